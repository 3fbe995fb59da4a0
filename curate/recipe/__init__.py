"""Recipes: YAML files (or Python objects) that describe a pipeline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from curate.errors import RecipeError
from curate.recipe.overrides import apply_overrides, parse_override
from curate.recipe.schema import EngineSpec, Join, Recipe, Resources, Stage
from curate.recipe.yaml_loader import KeyPath, load_yaml, render_path

__all__ = ["Recipe", "Stage", "EngineSpec", "Join", "Resources", "load_recipe", "recipe_from_data", "apply_overrides",
           "parse_override", "validation_error"]


def load_recipe(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe file. Raises :class:`RecipeError` with file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}", hint="check the path") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe is not UTF-8 text: {exc}", where=str(path)) from None
    data, lines = load_yaml(text, str(path))
    return recipe_from_data(data, overrides, source=path.resolve(), lines=lines)


def recipe_from_data(data: Any, overrides: dict[str, Any] | list[str] | None = None, *,
                     source: Path | None = None, lines: dict[KeyPath, int] | None = None,
                     overridden: dict[KeyPath, str] | None = None) -> Recipe:
    where_file = str(source) if source else "recipe"
    if not isinstance(data, dict):
        raise RecipeError("a recipe must be a mapping with `name` and `stages`", where=where_file,
                          hint="see recipes/quickstart.yaml for the shape")
    applied: dict[KeyPath, str] = dict(overridden or {})
    data = apply_overrides(copy.deepcopy(data), overrides, applied)

    def where(path: KeyPath) -> str:
        probe_recipe = Recipe.model_construct(name=str(data.get("name", "recipe")))
        probe_recipe._source, probe_recipe._lines, probe_recipe._overrides = source, lines or {}, applied
        return probe_recipe.where(path)

    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, where) from None
    recipe._source, recipe._lines, recipe._overrides = source, lines or {}, applied
    return recipe


def validation_error(exc: ValidationError, where: Callable[[KeyPath], str], base: KeyPath = (),
                     component: str | None = None) -> RecipeError:
    """One pydantic error as a :class:`RecipeError` that names the place and the fix: for the
    recipe itself, and for a component's params (``component`` names it)."""
    err = exc.errors()[0]
    loc = base + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = loc[-1] if loc else None
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    if component is None:
        if err["type"] == "extra_forbidden":
            msg, hint = f"unknown key {key!r}", "remove it or check its spelling"
        elif err["type"] == "missing":
            msg, hint = f"missing required key {key!r}", "add it"
        else:
            msg, hint = err["msg"], None
    elif err["type"] == "extra_forbidden":
        msg, hint = f"{component} has no param {key!r}", f"run `curate describe {component}` for its params"
    elif err["type"] == "missing":
        msg, hint = f"{component} needs param {key!r}", f"add it under `with:` (see `curate describe {component}`)"
    else:
        msg, hint = f"{component}: {err['msg']}", f"see `curate describe {component}`"
    return RecipeError(msg + more, where=where(loc), hint=hint)
