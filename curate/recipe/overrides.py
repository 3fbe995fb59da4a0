"""``--set PATH=VALUE`` overrides, applied to the raw recipe data before validation.

``engines.default.model=x`` sets a key; ``stages.dedup.with.column=text`` addresses a stage by id
(or by index: ``stages.1.with.column`` or ``stages[1].with.column``, the spelling errors print). VALUE is parsed as YAML, so ``n=4`` is an int and
``stop=[a, b]`` a list.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from curate.errors import RecipeError
from curate.recipe.schema import default_stage_ids
from curate.recipe.yaml_loader import KeyPath


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise RecipeError(f"override {text!r} is not PATH=VALUE", hint="e.g. --set engines.default.model=my-model")
    path, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path.strip(), value


def _stage_ids(stages: list[Any]) -> list[str | None]:
    return default_stage_ids((s.get("id"), str(s.get("use"))) if isinstance(s, dict) else (None, None)
                             for s in stages)


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | list[str] | None,
                    applied: dict[KeyPath, str] | None = None) -> dict[str, Any]:
    """Apply overrides to raw recipe data in place. ``applied`` receives each overridden key path
    (stage indices resolved) with the override's text, so errors can blame ``--set``, not a line."""
    if not overrides:
        return data
    if isinstance(overrides, list):
        items = [(*parse_override(o), o) for o in overrides]
    else:
        items = [(k, v, f"{k}={v}") for k, v in overrides.items()]
    for raw_path, value, text in items:
        path = re.sub(r"\[(-?\d+)\]", r".\1", raw_path).strip(".")  # `stages[1].with` == `stages.1.with`
        parts = path.split(".")
        resolved: list[str | int] = []
        node: Any = data
        i = 0
        while i < len(parts):
            part, last = parts[i], i == len(parts) - 1
            if isinstance(node, list):
                # Stage ids may contain dots (`write.jsonl`): match the longest id first.
                ids = _stage_ids(node) if i and parts[i - 1] == "stages" else []
                idx = None
                for j in range(len(parts), i, -1):
                    if ".".join(parts[i:j]) in ids:
                        idx, i, last = ids.index(".".join(parts[i:j])), j - 1, j == len(parts)
                        break
                if idx is None and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                    idx = int(part) % len(node)
                if idx is None:
                    known = ", ".join(str(x) for x in ids if x) or f"0..{len(node) - 1}"
                    raise RecipeError(f"override {raw_path!r}: no stage {part!r}", where="--set",
                                      hint=f"stages are: {known}")
                resolved.append(idx)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
                i += 1
                continue
            if not isinstance(node, dict):
                raise RecipeError(f"override {raw_path!r}: {'.'.join(parts[:i])} is not a mapping", where="--set")
            resolved.append(part)
            if last:
                node[part] = value
            else:
                if part == "with" and part not in node:
                    node[part] = {}
                if part not in node:
                    raise RecipeError(f"override {raw_path!r}: no key {'.'.join(parts[:i + 1])!r} in the recipe",
                                      where="--set",
                                      hint="check the key path; new engines or stages cannot be added with --set")
                node = node[part]
            i += 1
        if applied is not None:
            applied[tuple(resolved)] = text
    return data
