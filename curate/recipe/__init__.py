"""Recipes: YAML files (or Python objects) that describe a pipeline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.errors import RecipeError
from curate.recipe.overrides import apply_overrides, parse_override
from curate.recipe.schema import EngineSpec, Recipe, Stage
from curate.recipe.yaml_loader import KeyPath, load_yaml, render_path

__all__ = ["Recipe", "Stage", "EngineSpec", "load_recipe", "recipe_from_data", "apply_overrides", "parse_override"]


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
                     source: Path | None = None, lines: dict[KeyPath, int] | None = None) -> Recipe:
    where_file = str(source) if source else "recipe"
    if not isinstance(data, dict):
        raise RecipeError("a recipe must be a mapping with `name` and `stages`", where=where_file,
                          hint="see recipes/quickstart.yaml for the shape")
    data = apply_overrides(copy.deepcopy(data), overrides)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_recipe_error(exc, source, lines or {}) from None
    recipe._source, recipe._lines = source, lines or {}
    return recipe


def _pydantic_to_recipe_error(exc: ValidationError, source: Path | None, lines: dict[KeyPath, int]) -> RecipeError:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    probe = loc
    while probe and probe not in lines:
        probe = probe[:-1]
    where = (str(source) if source else "recipe") + (f":{lines[probe]}" if probe in lines and source else "")
    where += f" {render_path(loc)}" if loc else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        msg, hint = f"unknown key {loc[-1]!r}", "remove it or check its spelling"
    elif kind == "missing":
        msg, hint = f"missing required key {loc[-1]!r}", "add it"
    else:
        msg, hint = err["msg"], None
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return RecipeError(msg + more, where=where, hint=hint)
