"""Progress display (rich) per stage, and the end-of-run summary table."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text
from rich.table import Table

if TYPE_CHECKING:  # pragma: no cover
    from curate.runner.result import RunResult


class RateColumn(ProgressColumn):
    """Rows per second of the task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} rows/s" if speed else "", style="cyan")


class StageProgress:
    """The in-process :class:`curate.component.Reporter` of one stage: a progress bar (or
    nothing, when the display is off) and the stage's counters."""

    def __init__(self, progress: Progress | None, description: str, total: int | None = None):
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress else None
        self.counters: dict[str, int] = {}
        self.metrics: dict[str, float] = {}

    def start(self, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def metric(self, key: str, value: float) -> None:
        self.metrics[key] = float(value)

    def done(self, note: str = "") -> None:
        if self._progress is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, total=task.completed or 1, completed=task.completed or 1,
                                  description=task.description + (f" [dim]{note}[/]" if note else ""))


@contextmanager
def progress_display(enabled: bool, console: Console | None = None) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=console or Console(stderr=True), transient=False,
    )
    with progress:
        yield progress


def summary_table(result: "RunResult") -> Table:
    table = Table(title=f"curate run: {result.recipe.name}", title_justify="left")
    for col in ("stage", "component", "rows in", "rows out", "removed", "seconds", "status"):
        numeric = col.startswith(("rows", "rem", "sec"))
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for s in result.stats.values():
        # A reused stage took no time in this run; its old time would mislead.
        seconds = "-" if s.cached else f"{s.seconds:.2f}"
        table.add_row(s.stage_id, s.component, f"{s.rows_in:,}", f"{s.rows_out:,}", f"{s.rows_removed:,}",
                      seconds, "reused" if s.cached else "ran")
    return table


def counter_lines(result: "RunResult") -> list[str]:
    """One line per stage that reported counters or metrics (cache hits, failed requests, distinct-2, ...)."""
    return [f"{s.stage_id}: " + ", ".join([f"{k}={v:,}" for k, v in sorted(s.counters.items())]
                                          + [f"{k}={v:.4g}" for k, v in sorted(s.metrics.items())])
            for s in result.stats.values() if s.counters or s.metrics]
