"""Turn a recipe into a checked plan before anything runs: every plugin exists, every param is
valid, every engine a stage names is declared, and each stage's input columns come from upstream."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.component import Component, Dedup, Reader, StageContext, Writer
from curate.engine import Engine
from curate.errors import RecipeError, UserInputError
from curate.recipe import Recipe
from curate.registry import Registry
from curate.runner.fingerprint import fingerprint

ID_COLUMN = "id"


@dataclass
class PlannedStage:
    index: int
    id: str
    component: Component
    fingerprint: str = ""
    engine_ids: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def dir_name(self) -> str:
        return f"{self.index:02d}-{self.id}".replace("/", "_")


@dataclass
class Plan:
    recipe: Recipe
    stages: list[PlannedStage]
    engines: dict[str, Engine]
    #: engines the caller passed in as instances: the caller owns (and closes) them
    external_engines: set[str] = field(default_factory=set)


def _params_error(exc: ValidationError, recipe: Recipe, base: tuple, name: str) -> RecipeError:
    err = exc.errors()[0]
    loc = base + tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        msg = f"{name} has no param {err['loc'][-1]!r}"
        hint = f"run `curate describe {name}` for its params"
    elif err["type"] == "missing":
        msg, hint = f"{name} needs param {err['loc'][-1]!r}", f"add it under `with:` (see `curate describe {name}`)"
    else:
        msg, hint = f"{name}: {err['msg']}", f"see `curate describe {name}`"
    return RecipeError(msg, where=recipe.where(loc), hint=hint)


def build_plan(recipe: Recipe, registry: Registry, run_dir: Path,
               engine_instances: dict[str, Engine] | None = None) -> Plan:
    engines: dict[str, Engine] = dict(engine_instances or {})
    for key, spec in recipe.engines.items():
        if key in engines:
            continue
        cls = registry.get(spec.use, ("engine",), where=recipe.where(("engines", key, "use")))
        try:
            engines[key] = cls(spec.engine_params())
        except ValidationError as exc:
            raise _params_error(exc, recipe, ("engines", key), spec.use) from None

    stages: list[PlannedStage] = []
    columns: set[str] | None = set()
    previous_fp = recipe.name
    for i, spec in enumerate(recipe.stages):
        cls = registry.get(spec.use, where=recipe.where(("stages", i, "use")))
        if i == 0 and not issubclass(cls, Reader):
            raise RecipeError(f"the first stage must be a reader, not {spec.use!r}", where=recipe.where(("stages", 0, "use")),
                              hint="start the recipe with a reader such as read.jsonl (see `curate plugins`)")
        try:
            component = cls(spec.with_)
        except ValidationError as exc:
            raise _params_error(exc, recipe, ("stages", i, "with"), spec.use) from None
        planned = PlannedStage(i, spec.id or spec.use, component)

        for engine_name in component.engine_names():
            if engine_name not in engines:
                declared = ", ".join(sorted(engines)) or "none"
                raise RecipeError(
                    f"stage {planned.id!r} uses engine {engine_name!r}, which the recipe does not declare "
                    f"(declared: {declared})", where=recipe.where(("stages", i, "with")),
                    hint=f"add it under `engines:`, e.g. {engine_name}: {{use: openai, model: ..., base_url: ...}}",
                )
            planned.engine_ids[engine_name] = engines[engine_name].identity()

        if isinstance(component, Reader):
            ctx = stage_context(recipe, planned, run_dir)
            try:
                preview = component.preview_columns(ctx)
            except UserInputError as exc:
                exc.where = exc.where or f"stage {planned.id!r} ({spec.use})"
                raise
            if preview is None:
                columns = None
            elif columns is not None:
                columns |= set(preview) | {ID_COLUMN}
        elif columns is not None:
            missing = []
            for need in component.input_columns():
                options = need if isinstance(need, tuple) else (need,)
                if not any(o in columns for o in options):
                    missing.append(" or ".join(repr(o) for o in options))
            if missing:
                have = ", ".join(sorted(columns)) or "none"
                raise RecipeError(
                    f"stage {planned.id!r} ({spec.use}) needs column {', '.join(missing)}, which no earlier stage "
                    f"produces (available: {have})",
                    where=recipe.where(("stages", i)),
                    hint="add a stage that produces it, or point the stage's params at an existing column",
                )
            columns |= set(component.output_columns())
            columns -= set(component.dropped_columns())

        if component.ctx is None:  # paths in params resolve against the recipe's folder
            component.ctx = stage_context(recipe, planned, run_dir)
        try:
            extra = component.cache_key()
        except UserInputError as exc:
            exc.where = exc.where or f"stage {planned.id!r} ({spec.use})"
            raise
        planned.fingerprint = fingerprint(
            previous_fp, spec.use, cls.version, component.params.model_dump(mode="json"), extra, planned.engine_ids
        )
        previous_fp = planned.fingerprint
        stages.append(planned)

    return Plan(recipe, stages, engines, set(engine_instances or {}))


def stage_context(recipe: Recipe, planned: PlannedStage, run_dir: Path, **kwargs: Any) -> StageContext:
    return StageContext(
        stage_id=planned.id,
        recipe_name=recipe.name,
        recipe_dir=recipe.base_dir,
        run_dir=run_dir,
        stage_dir=run_dir / "stages" / planned.dir_name,
        on_bad_rows=recipe.on_bad_rows,
        **kwargs,
    )


def describe_stage(planned: PlannedStage) -> str:
    kind = "whole dataset" if isinstance(planned.component, Dedup) else planned.component.kind
    if isinstance(planned.component, Writer):
        kind = "writer"
    return f"{planned.id} ({planned.component.name}, {kind})"


__all__ = ["Plan", "PlannedStage", "build_plan", "stage_context", "describe_stage", "ID_COLUMN"]
