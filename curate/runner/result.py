"""What a run returns: per-stage stats and the rows each writer wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

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


class WriterOutputs(Mapping[str, pl.DataFrame]):
    """Writer stage id -> the rows it wrote, brought into this process only when asked for (a
    distributed run's output stays on the cluster until then). Otherwise a read-only dict."""

    def __init__(self) -> None:
        self._loaders: dict[str, Callable[[], pl.DataFrame]] = {}
        self._frames: dict[str, pl.DataFrame] = {}
        self._heights: dict[str, int] = {}

    def add(self, stage_id: str, load: Callable[[], pl.DataFrame], height: int | None = None) -> None:
        self._loaders[stage_id] = load
        self._frames.pop(stage_id, None)
        if height is not None:
            self._heights[stage_id] = height

    def __setitem__(self, stage_id: str, rows: pl.DataFrame) -> None:
        self.add(stage_id, lambda: rows, rows.height)
        self._frames[stage_id] = rows

    def __getitem__(self, stage_id: str) -> pl.DataFrame:
        if stage_id not in self._frames:
            self._frames[stage_id] = self._loaders[stage_id]()
        return self._frames[stage_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def height(self, stage_id: str) -> int:
        """Rows the writer wrote, without loading them when the executor said how many."""
        if stage_id not in self._heights:
            self._heights[stage_id] = self[stage_id].height
        return self._heights[stage_id]

    def __repr__(self) -> str:
        return f"WriterOutputs({list(self._loaders)})"


@dataclass
class RunResult:
    recipe: Recipe
    run_dir: Path
    #: writer stage id -> the rows it wrote, in its export format (loaded on first access)
    outputs: Mapping[str, pl.DataFrame]
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
