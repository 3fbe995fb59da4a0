"""Progress display (rich) per stage, and the end-of-run summary table.

A stage's bar shows units done, rate, elapsed time and ETA; a stage that uses engines also shows
its requests in flight and failures so far, read live from the engines' usage counters
(:class:`curate.engines.cache.CachedEngine`), and its tokens and cost in the summary.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

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


class RequestsColumn(ProgressColumn):
    """Requests in flight and failed so far, for a stage that uses engines (blank otherwise)."""

    # Rendered ~10×/s: it reads a few integers of the engines' usage, no lock, no copy.

    def render(self, task: Task) -> Text:
        live: Callable[[], tuple[int, int]] | None = task.fields.get("live")
        if live is None:
            return Text("")
        in_flight, failed = live()
        text = Text()
        if in_flight and not task.finished:
            text.append(f"{in_flight:,} in flight", style="magenta")
        if failed:
            text.append(", " if text else "")
            text.append(f"{failed:,} failed", style="red")
        return text


class EtaColumn(TimeRemainingColumn):
    """``eta 0:01:23`` while a stage with a known total runs; blank before and after."""

    def render(self, task: Task) -> Text:
        if task.total is None or task.finished or not task.completed:
            return Text("")
        remaining = super().render(task)
        return Text("eta ", style="dim") + remaining


class StageProgress:
    """The in-process :class:`curate.component.Reporter` of one stage: a progress bar (or
    nothing, when the display is off) and the stage's counters."""

    def __init__(self, progress: Progress | None, description: str, total: int | None = None,
                 engines: dict[str, Any] | None = None):
        self._progress = progress
        # The engines the stage uses (CachedEngine: usage counters), with their figures at the start.
        self._engines = {n: e for n, e in (engines or {}).items() if hasattr(e, "usage_snapshot")}
        self._usage_start = {n: e.usage_snapshot() for n, e in self._engines.items()}
        live = self.live if self._engines else None
        self._task = progress.add_task(description, total=total, live=live) if progress else None
        self.counters: dict[str, int] = {}
        self.metrics: dict[str, float] = {}
        self._weighted: dict[str, tuple[float, float]] = {}

    def live(self) -> tuple[int, int]:
        """(requests in flight now, requests failed since the stage started), over its engines."""
        in_flight = failed = 0
        for name, engine in self._engines.items():
            in_flight += engine.usage.in_flight
            failed += engine.usage.requests_failed - self._usage_start[name].get("requests_failed", 0)
        return in_flight, int(failed)

    def engine_usage(self, plus: dict[str, dict[str, float]] | None = None) -> dict[str, dict[str, float]]:
        """What each engine did since the stage started (``StageStats.engines``), with ``plus``
        (figures measured elsewhere, e.g. by a remote executor's workers) added."""
        from curate.engines.cache import add_usage, usage_delta

        mine = {n: usage_delta(self._usage_start[n], e.usage_snapshot()) for n, e in self._engines.items()}
        return add_usage(mine, plus or {})

    def start(self, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def metric(self, key: str, value: float, weight: float | None = None) -> None:
        if weight is None:
            self.metrics[key] = float(value)
            return
        # a weighted mean over every call: keep the sums, show the mean
        total, weights = self._weighted.get(key, (0.0, 0.0))
        total, weights = total + float(value) * float(weight), weights + float(weight)
        self._weighted[key] = (total, weights)
        if weights:
            self.metrics[key] = total / weights

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
        TimeElapsedColumn(), EtaColumn(), RequestsColumn(),
        console=console or Console(stderr=True), transient=False,
    )
    with progress:
        yield progress


def summary_table(result: "RunResult") -> Table:
    stats = list(result.stats.values())
    used = any(s.engines and not s.cached for s in stats)  # token/cost columns only for runs with engines
    priced = any("cost_usd" in figures for s in stats if not s.cached for figures in s.engines.values())
    table = Table(title=f"curate run: {result.recipe.name}", title_justify="left")
    columns = ["stage", "component", "rows in", "rows out", "removed", "seconds"]
    columns += ["tokens"] if used else []
    columns += ["cost"] if priced else []
    for col in columns + ["status"]:
        numeric = col.startswith(("rows", "rem", "sec", "tok", "cost"))
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for s in stats:
        # A reused stage took no time (and no tokens) in this run; its old figures would mislead.
        seconds = "-" if s.cached else f"{s.seconds:.2f}"
        row = [s.stage_id, s.component, f"{s.rows_in:,}", f"{s.rows_out:,}", f"{s.rows_removed:,}", seconds]
        if used:
            tokens = sum(f.get("prompt_tokens", 0) + f.get("completion_tokens", 0) for f in s.engines.values())
            row.append("-" if s.cached or not s.engines else f"{tokens:,.0f}")
        if priced:
            costs = [f["cost_usd"] for f in s.engines.values() if "cost_usd" in f]
            row.append("-" if s.cached or not costs else _usd(sum(costs)))
        table.add_row(*row, "reused" if s.cached else "ran")
    return table


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 100 else f"${value:,.4f}"


def engine_line(stage_id: str, engine: str, figures: dict[str, float], seconds: float) -> str:
    """What one engine did in one stage: requests, tokens, tokens per second, cost."""
    parts = [f"{figures.get('requests_sent', 0):,.0f} sent", f"{figures.get('requests_cached', 0):,.0f} cached"]
    if figures.get("requests_failed"):
        parts.append(f"{figures['requests_failed']:,.0f} failed")
    if figures.get("batch_requests"):
        parts.append(f"{figures['batch_requests']:,.0f} by batch API")
    prompt, completion = figures.get("prompt_tokens", 0), figures.get("completion_tokens", 0)
    text = f"{stage_id} [{engine}]: " + ", ".join(parts)
    if prompt or completion:
        text += f"; tokens {prompt:,.0f} prompt + {completion:,.0f} completion"
        if seconds > 0:
            text += f" ({(prompt + completion) / seconds:,.0f} tokens/s)"
    if "cost_usd" in figures:
        text += f"; cost {_usd(figures['cost_usd'])}"
    return text


def counter_lines(result: "RunResult") -> list[str]:
    """One line per stage that reported counters or metrics (cache hits, failed requests, distinct-2, ...),
    and one per engine a stage ran (requests, tokens, tokens/s, cost)."""
    lines = []
    for s in result.stats.values():
        if s.counters or s.metrics:
            lines.append(f"{s.stage_id}: " + ", ".join([f"{k}={v:,}" for k, v in sorted(s.counters.items())]
                                                       + [f"{k}={v:.4g}" for k, v in sorted(s.metrics.items())]))
        if not s.cached:
            lines.extend(engine_line(s.stage_id, name, figures, s.seconds) for name, figures in s.engines.items())
    return lines
