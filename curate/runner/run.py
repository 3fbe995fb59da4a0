"""The runner: validate the whole recipe, then run its stage graph with per-stage checkpoints.

Each stage is checkpointed under ``<run_dir>/stages/NN-<id>/`` with a fingerprint of its plugin
name and version, its params, the engines it uses and its inputs' fingerprints. Rerunning reuses
every stage whose fingerprint matches a finished checkpoint, so changing one branch reruns that
branch and what depends on it, nothing else. The executor owns the data; the runner orders
stages, starts engines, records stats and fires the observer hooks.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from curate._version import __version__
from curate import storage
from curate.component import Writer
from curate.engine import Engine, EngineRun
from curate.errors import BatchesPending, StageFailure, UserInputError
from curate.recipe import Recipe, load_recipe, recipe_from_data
from curate.rundir import RunDir
from curate.files import read_json, write_json
from curate.runner.executor import Dataset, Executor, LocalExecutor, StageTask
from curate.runner.plan import Plan, PlannedStage, build_plan, columns_error, missing_columns
from curate.runner.progress import StageProgress, progress_display
from curate.runner.result import RunResult, StageStats, WriterOutputs

log = logging.getLogger("curate")


def run(recipe: Recipe | str | Path, *, overrides: dict[str, Any] | list[str] | None = None,
        run_dir: str | Path | None = None, fresh: bool = False, show_progress: bool = False,
        engines: dict[str, Engine] | None = None, executor: Executor | str | None = None,
        dry_run: bool = False, report: bool = True, wait: bool = True) -> RunResult:
    """Run a recipe (a path or a :class:`Recipe`) and return its outputs and stats.

    :param overrides: ``{"engines.default.model": "x"}`` or ``["engines.default.model=x"]``.
    :param run_dir: checkpoints and outputs go here (default ``runs/<recipe name>``).
    :param fresh: discard the earlier run in ``run_dir`` — only once the recipe is valid and its
        engines started, and only if ``run_dir`` is a curate run directory.
    :param engines: engine instances by recipe name; they replace (or add to) ``engines:``.
    :param executor: how stages run: an :class:`Executor`, or a registered executor's name
        (``"local"``, the default; ``"ray"`` with curate-ray installed).
    :param dry_run: validate and plan, run nothing (``result.stats`` is empty).
    :param report: let observers write their reports (``report.html``) at the end.
    :param wait: wait for submitted batch jobs; ``False`` submits them and raises
        :class:`curate.BatchesPending` once every stage that can run has (rerun to pick them up).
    """
    from curate.plugins import plugin_manager, registry

    recipe = _with_overrides(recipe, overrides)
    run_dir = RunDir(run_dir if run_dir is not None else Path("runs") / recipe.name)
    plan = build_plan(recipe, registry(), run_dir.path, engines)
    options = {"report": report, "wait": wait}
    runner = Runner(plan, make_executor(executor), plugin_manager().hook, show_progress, options)
    if dry_run:
        return RunResult(recipe, run_dir.path, {}, {}, complete=False, options=options)
    return runner.run(fresh=fresh)


def make_executor(executor: Executor | str | None, options: dict[str, Any] | None = None) -> Executor:
    """An executor object from a name (``"local"``, ``"ray"``, ...) and its options."""
    from curate.plugins import registry

    if executor is None:
        return LocalExecutor(**(options or {}))
    if isinstance(executor, str):
        cls = registry().get(executor, ("executor",), where="--executor")
        try:
            return cls(**(options or {}))
        except ValidationError as exc:
            raise UserInputError(f"bad options for executor {executor!r}: {exc}") from None
    return executor


def _with_overrides(recipe: Recipe | str | Path, overrides: dict[str, Any] | list[str] | None) -> Recipe:
    if not isinstance(recipe, Recipe):
        return load_recipe(recipe, overrides)
    if not overrides:
        return recipe
    base = recipe.base_dir
    return recipe_from_data(recipe.model_dump(by_alias=True, exclude_none=True), overrides, source=recipe.source,
                            lines=recipe._lines, overridden=recipe._overrides).with_base_dir(base)


class Runner:
    def __init__(self, plan: Plan, executor: Executor, hook: Any, show_progress: bool = False,
                 options: dict[str, Any] | None = None):
        self.plan, self.executor, self.hook = plan, executor, hook
        self.show_progress = show_progress
        #: run options observers may read from ``RunResult.options`` (``report``, ``wait``, ...)
        self.options = {"report": True, "wait": True, **(options or {})}
        self.recipe = plan.recipe
        self.run_dir = plan.run_dir
        #: stages whose batch jobs are still running (``wait=False``), and stages after them
        self.waiting: dict[str, BatchesPending] = {}
        self.blocked: set[str] = set()

    # --- what can be reused -----------------------------------------------------------------
    def reusable(self) -> dict[str, dict[str, Any]]:
        """Stage id -> checkpoint meta, for every stage whose checkpoint matches its fingerprint."""
        found = {}
        for st in self.plan.stages:
            meta = self._checkpoint(st)
            if meta is not None:
                found[st.id] = meta
        return found

    def _checkpoint(self, st: PlannedStage) -> dict[str, Any] | None:
        meta = read_json(RunDir.meta_file(st.dir))
        if not meta or meta.get("fingerprint") != st.fingerprint:
            meta = self._adopt_moved_checkpoint(st)
            if meta is None:
                return None
        if meta.get("data_from") is None and not RunDir.output_file(st.dir).exists():
            return None
        if isinstance(st.component, Writer) and not all(storage.exists(p) for p in st.component.output_paths(st.component.ctx)):
            return None
        return meta

    def _adopt_moved_checkpoint(self, st: PlannedStage) -> dict[str, Any] | None:
        """A stage whose index changed (a stage was inserted before it) keeps its checkpoint."""
        if not self.run_dir.stages_dir.is_dir():
            return None
        for other in self.run_dir.stages_dir.glob(f"*-{st.dir.name.split('-', 1)[1]}"):
            meta = read_json(RunDir.meta_file(other))
            if other != st.dir and meta and meta.get("fingerprint") == st.fingerprint and not st.dir.exists():
                other.rename(st.dir)
                return meta
        return None

    # --- running ----------------------------------------------------------------------------
    def run(self, fresh: bool = False) -> RunResult:
        started = dt.datetime.now(dt.timezone.utc)
        protect = [p for p in (self.recipe.source, self.recipe.base_dir) if p is not None]
        if fresh:
            self.run_dir.check_removable(protect)
        reused = {} if fresh else self.reusable()
        pending = [sid for sid in self.plan.order if sid not in reused]
        self._start_engines(pending)  # a dead server fails here, before anything is deleted or run
        if fresh:
            removed = self.run_dir.remove(protect)
            if removed:
                log.warning("--fresh: removed the previous run in %s (%s)", self.run_dir.path, ", ".join(removed))
        self.run_dir.create(self.recipe.name)

        stats: dict[str, StageStats] = {}
        outputs = WriterOutputs()
        data: dict[str, Dataset] = {}
        result = RunResult(self.recipe, self.run_dir.path, outputs, stats, complete=False, options=dict(self.options))
        self.run_dir.write_lock()  # `curate status` tells a live run from a crashed one by it
        self._write_manifest(started, stats, complete=False)
        self.executor.open(self.run_dir, dict(self.plan.engines))
        try:
            self.hook.curate_run_started(recipe=self.recipe, run_dir=self.run_dir)
            with progress_display(self.show_progress) as progress:
                for sid in self.plan.order:
                    st = self.plan.stage(sid)
                    if sid in reused:
                        stats[sid] = self._reuse(st, reused[sid], data, outputs, progress)
                    elif any(i in self.waiting or i in self.blocked for i in st.inputs):
                        self.blocked.add(sid)  # its input waits for batch jobs
                        continue
                    else:
                        try:
                            stats[sid] = self._run_stage(st, data, outputs, progress)
                        except BatchesPending as pending:  # --no-wait: other branches still run
                            self.waiting[sid] = pending
                            continue
                    self.hook.curate_stage_finished(recipe=self.recipe, stage_id=sid, stats=stats[sid],
                                                    run_dir=self.run_dir)
            if self.waiting:
                raise BatchesPending.merge(list(self.waiting.values()), stages=list(self.waiting))
            result.complete = True
            result.warnings.extend(self._empty_output_warnings(result))
            for warning in result.warnings:
                log.warning("%s", warning)
        finally:
            self.executor.close()
            for name, engine in self.plan.engines.items():
                if name not in self.plan.external_engines:
                    engine.close()
                else:
                    engine.close_cache()
            self._write_manifest(started, stats, complete=result.complete)
            self.run_dir.release_lock()
            self.hook.curate_run_finished(recipe=self.recipe, result=result, run_dir=self.run_dir,
                                          complete=result.complete)
        return result

    def _start_engines(self, pending: list[str]) -> None:
        for name, engine in self.plan.engines.items():  # before start, and before a remote executor ships them
            engine.bind(EngineRun(name, self.run_dir.engine_dir(name), wait=bool(self.options.get("wait", True))))
        if self.executor.starts_engines:
            return  # started where the stages run (e.g. actors on GPU nodes), not here
        needed = sorted({name for sid in pending for name in self.plan.stage(sid).engines})
        for name in needed:
            self.plan.engines[name].start()

    def _reuse(self, st: PlannedStage, meta: dict[str, Any], data: dict[str, Dataset],
               outputs: WriterOutputs, progress: Any) -> StageStats:
        data_from = meta.get("data_from")
        data[st.id] = data[data_from] if data_from else self.executor.load(st.dir)
        if isinstance(st.component, Writer):
            source, comp = data[st.id], st.component
            outputs.add(st.id, lambda: comp.format(self.executor.collect(source)), meta["stats"].get("rows_out"))
        s = StageStats(**{**meta["stats"], "cached": True})
        StageProgress(progress, f"[dim]{st.id}[/]", s.rows_out).done("reused")
        return s

    def _run_stage(self, st: PlannedStage, data: dict[str, Dataset], outputs: WriterOutputs,
                   progress: Any) -> StageStats:
        inputs = [data[i] for i in st.inputs]
        if st.columns is None:
            self._check_columns_now(st, inputs)  # a source upstream could not tell its columns at validation
        if st.dir.exists():
            shutil.rmtree(st.dir)
        st.dir.mkdir(parents=True)
        comp = st.component
        # Usage of the stage's engines is measured from here (live: in flight, failures).
        reporter = StageProgress(progress, st.id, engines={n: self.plan.engines[n] for n in sorted(st.engines)})
        task = StageTask(info=st.info(self.recipe, self.run_dir.path), use=comp.name,
                         params=comp.params.model_dump(), inputs=tuple(st.inputs), join=st.join,
                         engines=tuple(sorted(st.engines)), resources=dict(st.resources))
        self.hook.curate_stage_started(recipe=self.recipe, stage_id=st.id, component=comp, run_dir=self.run_dir)
        try:
            done = self.executor.run(task, inputs, reporter)
        except (UserInputError, KeyboardInterrupt):
            raise
        except BatchesPending:
            reporter.done("waiting for batch jobs")
            raise
        except Exception as exc:  # noqa: BLE001 - wrap with the stage name, keep the cause
            raise StageFailure(st.id, exc, run_dir=str(self.run_dir.path)) from exc
        data[st.id] = data[done.data_from] if done.data_from else done.output
        if done.written is not None:
            written = done.written
            outputs.add(st.id, lambda: self.executor.collect(written), written.num_rows)
        # In process the reporter holds the counters; a remote executor returns them in `done`.
        stats = StageStats(st.id, comp.name, done.rows_in, done.rows_out, done.rows_removed, done.seconds, False,
                           {**reporter.counters, **done.counters}, {**reporter.metrics, **done.metrics},
                           engines=reporter.engine_usage(plus=done.engines))
        write_json({"id": st.id, "fingerprint": st.fingerprint, "component": comp.name, "version": comp.version,
                    "params": comp.params.model_dump(mode="json"), "inputs": st.inputs, "join": st.join,
                    "data_from": done.data_from, "stats": asdict(stats)}, RunDir.meta_file(st.dir))
        reporter.done()
        return stats

    def _check_columns_now(self, st: PlannedStage, inputs: list[Dataset]) -> None:
        if st.is_source:
            return
        columns = {c for d in inputs for c in d.columns}
        missing = missing_columns(st.component, columns)
        if missing:
            raise columns_error(self.recipe, st, missing, columns)

    # --- reporting --------------------------------------------------------------------------
    def _empty_output_warnings(self, result: RunResult) -> list[str]:
        warnings = []
        for sid in result.outputs:
            if result.outputs.height(sid):
                continue
            chain = self.plan.upstream(sid) + [sid]
            culprit = next((s for s in chain if s in result.stats and result.stats[s].rows_in > 0
                            and result.stats[s].rows_out == 0), None)
            text = f"writer {sid!r} wrote no rows"
            if culprit:
                reasons = self.run_dir.removal_reasons(culprit)
                text += f": stage {culprit!r} removed all {result.stats[culprit].rows_in:,} rows"
                if reasons:
                    text += "; top reasons: " + "; ".join(f"{r} ({n:,})" for r, n in reasons)
            warnings.append(text)
        return warnings

    def _write_manifest(self, started: dt.datetime, stats: dict[str, StageStats], complete: bool) -> None:
        from curate.plugins import registry

        reg = registry()
        self.run_dir.path.mkdir(parents=True, exist_ok=True)
        write_json({
            "curate_version": __version__,
            "recipe": self.recipe.model_dump(mode="json", by_alias=True, exclude_none=True),
            "recipe_file": str(self.recipe.source) if self.recipe.source else None,
            "started": started.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat() if stats or complete else None,
            "complete": complete,
            "engines": {name: {"use": e.name, "package": e.package, "version": e.version, "identity": e.identity()}
                        for name, e in self.plan.engines.items()},
            "stages": [
                {"id": st.id, "use": st.component.name, "package": reg.origin(type(st.component)).package,
                 "version": st.component.version, "fingerprint": st.fingerprint, "inputs": st.inputs,
                 "engines": st.engines, "dir": f"stages/{st.dir_name}",
                 "status": ("reused" if stats[st.id].cached else "ran") if st.id in stats else
                           "waiting" if st.id in self.waiting else "not run",
                 "stats": asdict(stats[st.id]) if st.id in stats else None}
                for st in (self.plan.stage(sid) for sid in self.plan.order)
            ],
        }, self.run_dir.manifest_path)


__all__ = ["run", "Runner", "RunResult", "StageStats"]
