"""Run one stage over a DataFrame through the real runner (checkpoints, validation and all)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from curate.engine import Engine
from curate.recipe import Recipe, Stage
from curate.runner import RunResult, run


@dataclass
class StageRun:
    kept: pl.DataFrame
    removed: pl.DataFrame | None
    result: RunResult


def run_stage(use: str, df: pl.DataFrame, with_: dict[str, Any] | None = None, *,
              engines: dict[str, Engine] | None = None, run_dir: str | Path | None = None, **params: Any) -> StageRun:
    """Run ``use`` over ``df`` and return the rows it kept and removed.

    Params may be given as ``with_={...}`` or as keyword arguments. ``engines`` maps recipe engine
    names to engine instances (e.g. ``{"default": ScriptedEngine([...])}``).
    """
    tmp = None
    if run_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="curate-stage-")
        run_dir = tmp.name
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        data = run_dir / "input.parquet"
        df.write_parquet(data)
        recipe = Recipe(name="one-stage", stages=[
            Stage(use="read.parquet", **{"with": {"path": str(data)}}),
            Stage(use=use, id="stage", **{"with": {**(with_ or {}), **params}}),
        ])
        result = run(recipe, run_dir=run_dir / "run", engines=engines)
        kept = result.rundir.output("stage")
        removed = result.rundir.removed("stage")
        if "source" not in df.columns:
            kept = kept.drop("source", strict=False)
        return StageRun(kept, removed, result)
    finally:
        if tmp is not None:
            tmp.cleanup()
