"""The runner: validate the whole recipe, then run stages in order with checkpoints.

Each stage's output is checkpointed under ``<run_dir>/stages/NN-<id>/`` with a fingerprint of its
plugin name and version, its params and its input's fingerprint. Rerunning skips stages whose
fingerprint matches a finished checkpoint; changing a stage reruns it and everything after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate import __version__
from curate.component import REASON, Dedup, Reader, RowStage, StageOutput, Writer
from curate.engine import Engine
from curate.engines.cache import CachedEngine
from curate.errors import CurateError, DataError, StageFailure, UserInputError
from curate.recipe import Recipe, load_recipe
from curate.runner.checkpoint import read_json, write_json, write_parquet
from curate.runner.executor import Executor, LocalExecutor, concat
from curate.runner.plan import ID_COLUMN, Plan, PlannedStage, build_plan, stage_context
from curate.runner.progress import StageProgress, progress_display

log = logging.getLogger("curate")


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


@dataclass
class RunResult:
    recipe: Recipe
    run_dir: Path
    #: writer stage id -> the frame it wrote
    outputs: dict[str, pl.DataFrame]
    #: stage id -> stats
    stats: dict[str, StageStats]


def run(recipe: Recipe | str | Path, *, overrides: dict[str, Any] | list[str] | None = None,
        run_dir: str | Path | None = None, fresh: bool = False, show_progress: bool = False,
        engines: dict[str, Engine] | None = None, executor: Executor | None = None) -> RunResult:
    """Run a recipe (a path or a :class:`Recipe`) and return its outputs and stats.

    :param overrides: ``{"engines.default.model": "x"}`` or ``["engines.default.model=x"]``.
    :param run_dir: checkpoints and outputs go here (default ``runs/<recipe name>``).
    :param fresh: discard earlier checkpoints.
    :param engines: engine instances by recipe name; they replace (or add to) ``engines:``.
    :param executor: how stages run (default: in this process).
    """
    from curate.plugins import plugin_manager, registry

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        from curate.recipe import recipe_from_data

        base = recipe.base_dir
        recipe = recipe_from_data(recipe.model_dump(by_alias=True, exclude_none=True), overrides,
                                  source=recipe.source).with_base_dir(base)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / recipe.name
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = build_plan(recipe, registry(), run_dir, engines)
    return Runner(plan, run_dir, executor or LocalExecutor(), plugin_manager().hook, show_progress).run()


class Runner:
    def __init__(self, plan: Plan, run_dir: Path, executor: Executor, hook: Any, show_progress: bool):
        self.plan, self.run_dir, self.executor, self.hook = plan, run_dir, executor, hook
        self.show_progress = show_progress
        self.recipe = plan.recipe

    def _checkpoint_ok(self, st: PlannedStage) -> dict[str, Any] | None:
        meta = read_json(self.run_dir / "stages" / st.dir_name / "meta.json")
        if not meta or meta.get("fingerprint") != st.fingerprint:
            return None
        comp = st.component
        if not isinstance(comp, Writer) and not self._output_path(st).exists():
            return None
        if isinstance(comp, Writer):
            ctx = stage_context(self.recipe, st, self.run_dir)
            if not all(p.exists() for p in comp.output_paths(ctx)):
                return None
        return meta

    def run(self) -> RunResult:
        started = dt.datetime.now(dt.timezone.utc)
        metas = [self._checkpoint_ok(st) for st in self.plan.stages]
        # A stage is reusable only when it and every stage before it are.
        reusable = 0
        while reusable < len(metas) and metas[reusable] is not None:
            reusable += 1
        self._start_engines(self.plan.stages[reusable:])

        stats: dict[str, StageStats] = {}
        outputs: dict[str, pl.DataFrame] = {}
        df: pl.DataFrame | None = None
        loaded_from = -1  # index of the stage whose checkpoint `df` holds
        try:
            with progress_display(self.show_progress) as progress:
                for st in self.plan.stages:
                    if st.index < reusable:
                        # Load a checkpoint only where something needs the frame: a writer's output,
                        # or the input of the first stage that runs again.
                        if isinstance(st.component, Writer) or st.index == reusable - 1:
                            source = self._data_source(st.index)
                            if loaded_from != source:
                                df = pl.read_parquet(self._output_path(self.plan.stages[source]))
                                loaded_from = source
                        s = StageStats(**{**metas[st.index]["stats"], "cached": True})
                        if isinstance(st.component, Writer):
                            outputs[st.id] = df
                        StageProgress(progress, f"[dim]{st.id}[/]", s.rows_out).done("cached")
                    else:
                        df, s = self._run_stage(st, df, progress)
                        if isinstance(st.component, Writer):
                            outputs[st.id] = df
                    stats[st.id] = s
                    self.hook.curate_stage_finished(recipe=self.recipe, stage_id=st.id, stats=s)
        finally:
            for name, engine in self.plan.engines.items():
                if name not in self.plan.external_engines:
                    engine.close()
                elif isinstance(engine, CachedEngine):
                    engine.close_cache()
            self._write_manifest(started, stats, complete=len(stats) == len(self.plan.stages))
        result = RunResult(self.recipe, self.run_dir, outputs, stats)
        self.hook.curate_run_finished(recipe=self.recipe, result=result)
        return result

    def _output_path(self, st: PlannedStage) -> Path:
        return self.run_dir / "stages" / st.dir_name / "output.parquet"

    def _data_source(self, index: int) -> int:
        """The stage whose checkpoint holds stage ``index``'s output (writers pass data through)."""
        while isinstance(self.plan.stages[index].component, Writer):
            index -= 1
        return index

    def _start_engines(self, pending: list[PlannedStage]) -> None:
        needed = {name for st in pending for name in st.component.engine_names()}
        for name in sorted(needed):
            engine = self.plan.engines[name]
            if not isinstance(engine, CachedEngine):
                engine = CachedEngine(engine, self.run_dir / "requests.sqlite")
                self.plan.engines[name] = engine
            engine.start()

    def _run_stage(self, st: PlannedStage, df: pl.DataFrame | None,
                   progress: Any) -> tuple[pl.DataFrame, StageStats]:
        comp = st.component
        stage_dir = self.run_dir / "stages" / st.dir_name
        if stage_dir.exists():
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True)
        rows_in = 0 if df is None else df.height
        bar = StageProgress(progress, st.id, rows_in or None)
        ctx = stage_context(self.recipe, st, self.run_dir, engines=self.plan.engines,
                            advance=bar.advance, set_total=bar.set_total)
        self.hook.curate_stage_started(recipe=self.recipe, stage_id=st.id, component=comp)
        t0 = time.perf_counter()
        try:
            comp.setup(ctx)
            out = self._execute(comp, df, bar)
        except (UserInputError, KeyboardInterrupt):
            raise
        except CurateError as exc:
            raise StageFailure(st.id, exc, run_dir=str(self.run_dir)) from exc
        except Exception as exc:  # noqa: BLE001 - wrap with the stage name, keep the cause
            raise StageFailure(st.id, exc, run_dir=str(self.run_dir)) from exc
        finally:
            comp.teardown()
        seconds = time.perf_counter() - t0
        if isinstance(comp, Reader):
            out = StageOutput(self._with_ids(out.kept, st, df), out.removed)
        if out.removed is not None and out.removed.height:
            write_parquet(out.removed, stage_dir / "removed.parquet")
        if not isinstance(comp, Writer):
            write_parquet(out.kept, stage_dir / "output.parquet")
        stats = StageStats(st.id, comp.name, rows_in, out.kept.height,
                           0 if out.removed is None else out.removed.height, seconds, False, dict(ctx.counters))
        write_json({"fingerprint": st.fingerprint, "component": comp.name, "version": comp.version,
                    "params": comp.params.model_dump(mode="json"), "stats": asdict(stats)}, stage_dir / "meta.json")
        bar.done()
        return out.kept, stats

    def _execute(self, comp: Any, df: pl.DataFrame | None, bar: StageProgress) -> StageOutput:
        if isinstance(comp, Reader):
            new = comp.read()
            if new.height == 0:
                raise DataError(f"stage {comp.ctx.stage_id!r} ({comp.name}) read no rows",
                                hint="the input is empty; point the reader at a file with data")
            bar.set_total(new.height)
            bar.advance(new.height)
            return StageOutput(new if df is None else concat([df, new]))
        if df is None:
            raise DataError("no data: the first stage must be a reader")
        if isinstance(comp, Writer):
            comp.write(df)
            bar.advance(df.height)
            return StageOutput(df)
        if isinstance(comp, Dedup):
            out = self.executor.run_whole(comp.process, df)
            if not comp.reports_progress:
                bar.advance(df.height)
            return out
        if isinstance(comp, RowStage):
            return self.executor.map_batches(comp.process_batch, df, comp.batch_size,
                                             (lambda n: None) if comp.reports_progress else bar.advance)
        raise TypeError(f"{comp.name}: unknown component kind {comp.kind!r}")

    def _with_ids(self, df: pl.DataFrame, st: PlannedStage, previous: pl.DataFrame | None) -> pl.DataFrame:
        if ID_COLUMN in df.columns and df[ID_COLUMN].null_count() == 0:
            return df.with_columns(pl.col(ID_COLUMN).cast(pl.Utf8))
        ids = pl.Series(ID_COLUMN, [f"{st.id}:{i}" for i in range(df.height)])
        if ID_COLUMN in df.columns:  # fill gaps only
            return df.with_columns(pl.coalesce(pl.col(ID_COLUMN).cast(pl.Utf8), ids).alias(ID_COLUMN))
        return df.with_columns(ids)

    def _write_manifest(self, started: dt.datetime, stats: dict[str, StageStats], complete: bool) -> None:
        from curate.plugins import registry

        reg = registry()
        write_json({
            "curate_version": __version__,
            "recipe": self.recipe.model_dump(mode="json", by_alias=True),
            "recipe_file": str(self.recipe.source) if self.recipe.source else None,
            "started": started.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "complete": complete,
            "stages": [
                {"id": st.id, "use": st.component.name, "package": reg.origin(type(st.component)).package,
                 "version": st.component.version, "fingerprint": st.fingerprint,
                 "dir": f"stages/{st.dir_name}", "stats": asdict(stats[st.id]) if st.id in stats else None}
                for st in self.plan.stages
            ],
        }, self.run_dir / "run.json")


__all__ = ["run", "RunResult", "StageStats", "REASON"]
