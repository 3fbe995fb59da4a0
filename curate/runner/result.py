"""What a run returns: per-stage stats and the rows each writer wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.recipe import Recipe
from curate.rundir import RunDir


@dataclass
class StageStats:
    stage_id: str
    component: str
    rows_in: int = 0
    rows_out: int = 0
    rows_removed: int = 0
    seconds: float = 0.0
    cached: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    #: figures of the output a stage reported (diversity, consistency rates, ...)
    metrics: dict[str, float] = field(default_factory=dict)
    #: recipe engine name -> what the stage used of it: ``requests_sent``, ``requests_cached``,
    #: ``requests_failed``, ``prompt_tokens``, ``completion_tokens`` (and batch/cost figures
    #: where the engine reports them)
    engines: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class RunResult:
    recipe: Recipe
    run_dir: Path
    #: writer stage id -> the rows it wrote, in its export format
    outputs: dict[str, pl.DataFrame]
    #: stage id -> stats, in execution order
    stats: dict[str, StageStats]
    #: true when every stage finished
    complete: bool = True
    #: things the user should know although the run succeeded (e.g. an empty output)
    warnings: list[str] = field(default_factory=list)
    #: how the run was asked to go (``executor``, ``report``, ``wait``, ...); observers may read it
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def rundir(self) -> RunDir:
        """The run directory's reader (stages, outputs, removed rows, manifest)."""
        return RunDir(self.run_dir)
