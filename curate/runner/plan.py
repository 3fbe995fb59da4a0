"""Turn a recipe into a checked graph before anything runs.

Every plugin exists, every param is valid, every stage's inputs name stages of the recipe and the
graph has no cycle, every engine a stage refers to (by an :class:`~curate.EngineRef`-typed param,
wherever it sits) is declared and has the capability the stage needs, and each stage's input
columns come from upstream. Each stage gets a fingerprint of its own configuration and its
inputs' fingerprints: that is what decides, stage by stage, whether a checkpoint is reused.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.component import Component, Source, StageContext, StageInfo, Writer
from curate.engine import Engine, engine_refs
from curate.engines.cache import CachedEngine
from curate.errors import RecipeError, UserInputError
from curate.recipe import Recipe, validation_error
from curate.registry import ENGINE_KINDS, KINDS, Registry
from curate.rundir import RunDir
from curate.runner.fingerprint import fingerprint

ID_COLUMN = "id"


@dataclass
class PlannedStage:
    index: int
    id: str
    component: Component
    inputs: list[str]
    dir: Path
    #: recipe engine name -> the capability the stage needs of it ("chat" / "score")
    engines: dict[str, str] = field(default_factory=dict)
    join: dict[str, Any] | None = None
    #: the recipe's ``resources`` for the stage (distributed executors only; not fingerprinted)
    resources: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    #: columns of the output as known at validation; None when a source could not tell
    columns: set[str] | None = None

    @property
    def is_source(self) -> bool:
        return isinstance(self.component, Source)

    @property
    def dir_name(self) -> str:
        return self.dir.name

    def info(self, recipe: Recipe, run_dir: Path) -> StageInfo:
        return StageInfo(stage_id=self.id, recipe_name=recipe.name, recipe_dir=recipe.base_dir,
                         run_dir=run_dir, stage_dir=self.dir, on_bad_rows=recipe.on_bad_rows)


@dataclass
class Plan:
    recipe: Recipe
    #: stages in recipe order
    stages: list[PlannedStage]
    #: stage ids in an order where every stage comes after its inputs (recipe order where possible)
    order: list[str]
    #: every declared engine, wrapped in the request cache
    engines: dict[str, CachedEngine]
    run_dir: RunDir
    #: engines the caller passed in as instances: the caller owns (and closes) them
    external_engines: set[str] = field(default_factory=set)

    def stage(self, stage_id: str) -> PlannedStage:
        return next(st for st in self.stages if st.id == stage_id)

    def downstream(self, stage_id: str) -> list[str]:
        """Stages that read, directly or not, the output of ``stage_id``."""
        found: list[str] = []
        frontier = [stage_id]
        while frontier:
            current = frontier.pop()
            for st in self.stages:
                if current in st.inputs and st.id not in found:
                    found.append(st.id)
                    frontier.append(st.id)
        return found

    def upstream(self, stage_id: str) -> list[str]:
        """Stages whose output ``stage_id`` reads, directly or not, in execution order."""
        seen: set[str] = set()
        frontier = list(self.stage(stage_id).inputs)
        while frontier:
            current = frontier.pop()
            if current not in seen:
                seen.add(current)
                frontier.extend(self.stage(current).inputs)
        return [sid for sid in self.order if sid in seen]


def build_plan(recipe: Recipe, registry: Registry, run_dir: str | Path,
               engine_instances: dict[str, Engine] | None = None) -> Plan:
    run_dir = RunDir(run_dir)
    engines = _build_engines(recipe, registry, run_dir, engine_instances or {})
    stages = [_build_stage(recipe, registry, run_dir, i) for i in range(len(recipe.stages))]
    by_id = {st.id: st for st in stages}
    order = _topological_order(recipe, stages)
    for sid in order:
        st = by_id[sid]
        _check_engines(recipe, st, engines)
        _check_columns(recipe, st, [by_id[i] for i in st.inputs])
        st.fingerprint = _fingerprint(recipe, st, [by_id[i] for i in st.inputs], engines)
    return Plan(recipe, stages, order, engines, run_dir, set(engine_instances or {}))


def _build_engines(recipe: Recipe, registry: Registry, run_dir: RunDir,
                   instances: dict[str, Engine]) -> dict[str, CachedEngine]:
    engines: dict[str, Engine] = dict(instances)
    for key, spec in recipe.engines.items():
        if key in engines:
            continue
        cls = registry.get(spec.use, ENGINE_KINDS, where=recipe.where(("engines", key, "use")))
        try:
            engines[key] = cls(spec.engine_params())
        except ValidationError as exc:
            raise validation_error(exc, recipe.where, ("engines", key), spec.use) from None
    return {k: e if isinstance(e, CachedEngine) else CachedEngine(e, run_dir.requests_path)
            for k, e in engines.items()}


def _build_stage(recipe: Recipe, registry: Registry, run_dir: RunDir, i: int) -> PlannedStage:
    spec = recipe.stages[i]
    cls = registry.get(spec.use, where=recipe.where(("stages", i, "use")))
    try:
        component = cls(spec.with_)
    except ValidationError as exc:
        raise validation_error(exc, recipe.where, ("stages", i, "with"), spec.use) from None
    stage_id = spec.id or spec.use
    known = [s.id for s in recipe.stages]
    if spec.inputs is None:
        inputs = [known[i - 1]] if i > 0 else []
    else:
        inputs = list(spec.inputs)
        for j, name in enumerate(inputs):
            if name not in known or name == stage_id:
                close = difflib.get_close_matches(name, known, n=2, cutoff=0.5)
                hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else \
                    f"stage ids are: {', '.join(str(k) for k in known)}"
                what = "its own id" if name == stage_id else f"unknown stage {name!r}"
                raise RecipeError(f"stage {stage_id!r} takes input from {what}",
                                  where=recipe.where(("stages", i, "inputs", j)), hint=hint)
        if len(set(inputs)) != len(inputs):
            raise RecipeError(f"stage {stage_id!r} names an input twice", where=recipe.where(("stages", i, "inputs")),
                              hint="list each input stage once")
    if not inputs and not isinstance(component, Source):
        first = "the first stage" if i == 0 else f"stage {stage_id!r} has no inputs, so it"
        raise RecipeError(f"{first} must be a source (a reader, or a generator that makes rows from its params), "
                          f"not {spec.use!r}", where=recipe.where(("stages", i, "use")),
                          hint="start the branch with a reader such as read.jsonl (see `curate plugins`), "
                               "or give the stage `inputs:`")
    if spec.join is not None and len(inputs) < 2:
        raise RecipeError(f"stage {stage_id!r} has `join` but {len(inputs)} input(s)",
                          where=recipe.where(("stages", i, "join")), hint="join needs two or more `inputs`")
    planned = PlannedStage(i, stage_id, component, inputs, run_dir.stage_dir(i, stage_id),
                           join=spec.join.model_dump() if spec.join else None,
                           resources=spec.resources.model_dump(exclude_none=True) if spec.resources else {})
    # Params that name paths resolve against the recipe's folder, already at validation.
    component.ctx = StageContext(planned.info(recipe, run_dir.path))
    return planned


def _topological_order(recipe: Recipe, stages: list[PlannedStage]) -> list[str]:
    by_id = {st.id: st for st in stages}
    state: dict[str, str] = {}  # "visiting" | "done"
    order: list[str] = []

    def visit(sid: str, path: list[str]) -> None:
        if state.get(sid) == "done":
            return
        if state.get(sid) == "visiting":
            cycle = path[path.index(sid):] + [sid]
            raise RecipeError("the stages form a cycle: " + " -> ".join(cycle),
                              where=recipe.where(("stages", by_id[sid].index, "inputs")),
                              hint="a stage may only read stages that do not read it back; fix `inputs:`")
        state[sid] = "visiting"
        for dep in by_id[sid].inputs:
            visit(dep, path + [sid])
        state[sid] = "done"
        order.append(sid)

    for st in stages:
        visit(st.id, [])
    return order


def _check_engines(recipe: Recipe, st: PlannedStage, engines: dict[str, CachedEngine]) -> None:
    for ref in engine_refs(st.component.params):
        name = str(ref)
        where = recipe.where(("stages", st.index, "with"))
        if name not in engines:
            declared = ", ".join(sorted(engines)) or "none"
            example = "{use: openai, model: ..., base_url: ...}" if ref.capability == "chat" else "{use: ..., model: ...}"
            raise RecipeError(f"stage {st.id!r} uses engine {name!r}, which the recipe does not declare "
                              f"(declared: {declared})", where=where,
                              hint=f"add it under `engines:`, e.g. {name}: {example}")
        have = engines[name].capability
        if have != ref.capability:
            kinds = {"chat": KINDS["engine"].label, "score": KINDS["score_engine"].label}
            raise RecipeError(
                f"stage {st.id!r} needs a {kinds[ref.capability]} for {name!r}, but {name!r} "
                f"({engines[name].name}) is a {kinds.get(have, have)}", where=where,
                hint=f"point the param at an engine that can {ref.capability}, or declare one "
                     f"(`curate plugins` lists {kinds[ref.capability]}s)")
        if st.engines.get(name, ref.capability) != ref.capability:
            raise RecipeError(f"stage {st.id!r} uses engine {name!r} both to chat and to score", where=where)
        st.engines[name] = ref.capability


def _check_columns(recipe: Recipe, st: PlannedStage, inputs: list[PlannedStage]) -> None:
    comp = st.component
    columns: set[str] | None = set()
    for up in inputs:
        columns = None if (columns is None or up.columns is None) else columns | up.columns
    if st.join is not None and columns is not None:
        missing_keys = [k for k in st.join["on"] for up in inputs if up.columns is not None and k not in up.columns]
        if missing_keys:
            raise RecipeError(f"stage {st.id!r} joins on {sorted(set(missing_keys))}, which not every input has",
                              where=recipe.where(("stages", st.index, "join", "on")),
                              hint="join on columns every input stage produces")
    if isinstance(comp, Source):
        try:
            preview = comp.preview_columns(comp.ctx)
        except UserInputError as exc:
            raise exc.located(f"stage {st.id!r} ({comp.name})")
        st.columns = None if (preview is None or columns is None) else columns | set(preview) | {ID_COLUMN}
        return
    if columns is not None:
        missing = missing_columns(comp, columns)
        if missing:
            raise columns_error(recipe, st, missing, columns)
        columns = (columns | set(comp.output_columns())) - set(comp.dropped_columns())
    st.columns = columns


def missing_columns(comp: Component, columns: set[str] | list[str]) -> list[str]:
    """The declared input columns of ``comp`` that ``columns`` lacks, rendered for a message."""
    columns = set(columns)
    missing = []
    for need in comp.input_columns():
        options = need if isinstance(need, tuple) else (need,)
        if not any(o in columns for o in options):
            missing.append(" or ".join(repr(o) for o in options))
    return missing


def columns_error(recipe: Recipe, st: PlannedStage, missing: list[str], columns: set[str]) -> RecipeError:
    have = ", ".join(sorted(columns)) or "none"
    return RecipeError(
        f"stage {st.id!r} ({st.component.name}) needs column {', '.join(missing)}, which no earlier stage "
        f"produces (available: {have})", where=recipe.where(("stages", st.index)),
        hint="add a stage that produces it, or point the stage's params at an existing column")


def _fingerprint(recipe: Recipe, st: PlannedStage, inputs: list[PlannedStage], engines: dict[str, CachedEngine]) -> str:
    comp = st.component
    try:
        extra = comp.cache_key()
    except UserInputError as exc:
        raise exc.located(f"stage {st.id!r} ({comp.name})")
    engine_ids = {name: engines[name].identity() for name in sorted(st.engines)}
    # A source's rows depend on the recipe only through its params; the recipe name seeds the
    # chain (it is in every exported row's provenance).
    upstream = [up.fingerprint for up in inputs] or [recipe.name]
    return fingerprint(upstream, st.join, comp.name, comp.version, comp.params.model_dump(mode="json"), extra,
                       engine_ids)


def describe_stage(st: PlannedStage) -> str:
    kind = "source" if st.is_source else st.component.kind
    if isinstance(st.component, Writer):
        kind = "writer"
    return f"{st.id} ({st.component.name}, {kind})"


def graph_lines(plan: Plan, reused: set[str] | None = None) -> list[str]:
    """The plan as text: one line per stage in execution order, with its inputs, engines and
    whether its checkpoint would be reused."""
    lines = []
    for n, sid in enumerate(plan.order, 1):
        st = plan.stage(sid)
        parts = [f"{n:>2}. {describe_stage(st)}"]
        if st.inputs:
            merge = f" (joined on {', '.join(st.join['on'])})" if st.join else (" (appended)" if len(st.inputs) > 1 else "")
            parts.append("<- " + ", ".join(st.inputs) + merge)
        else:
            parts.append("(starts a branch)")
        if st.engines:
            parts.append("engines: " + ", ".join(f"{name} [{cap}]" for name, cap in sorted(st.engines.items())))
        if reused is not None:
            parts.append("reused" if sid in reused else "runs")
        lines.append("  ".join(parts))
    return lines


__all__ = ["Plan", "PlannedStage", "build_plan", "describe_stage", "graph_lines", "missing_columns",
           "columns_error", "ID_COLUMN"]
