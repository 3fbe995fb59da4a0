"""``--set PATH=VALUE`` overrides, applied to the raw recipe data before validation.

``engines.default.model=x`` sets a key; ``stages.dedup.with.column=text`` addresses a stage by id
(or by index: ``stages.1.with.column``). VALUE is parsed as YAML, so ``n=4`` is an int and
``stop=[a, b]`` a list.
"""

from __future__ import annotations

from typing import Any

import yaml

from curate.errors import RecipeError


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise RecipeError(f"override {text!r} is not PATH=VALUE", hint="e.g. --set engines.default.model=my-model")
    path, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path.strip(), value


def _default_ids(stages: list[Any]) -> list[str | None]:
    ids: list[str | None] = []
    seen = {s.get("id") for s in stages if isinstance(s, dict) and s.get("id")}
    for s in stages:
        if not isinstance(s, dict):
            ids.append(None)
            continue
        if s.get("id"):
            ids.append(s["id"])
            continue
        use, k = str(s.get("use")), 2
        candidate = use
        while candidate in seen:
            candidate, k = f"{use}-{k}", k + 1
        seen.add(candidate)
        ids.append(candidate)
    return ids


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | list[str] | None) -> dict[str, Any]:
    if not overrides:
        return data
    items = [parse_override(o) for o in overrides] if isinstance(overrides, list) else list(overrides.items())
    for path, value in items:
        parts = path.split(".")
        node: Any = data
        i = 0
        while i < len(parts):
            part, last = parts[i], i == len(parts) - 1
            if isinstance(node, list):
                # Stage ids may contain dots (`write.jsonl`): match the longest id first.
                ids = _default_ids(node) if i and parts[i - 1] == "stages" else []
                idx = None
                for j in range(len(parts), i, -1):
                    if ".".join(parts[i:j]) in ids:
                        idx, i, last = ids.index(".".join(parts[i:j])), j - 1, j == len(parts)
                        break
                if idx is None and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                    idx = int(part)
                if idx is None:
                    known = ", ".join(str(x) for x in ids if x) or f"0..{len(node) - 1}"
                    raise RecipeError(f"override {path!r}: no stage {part!r}", hint=f"stages are: {known}")
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
                i += 1
                continue
            if not isinstance(node, dict):
                raise RecipeError(f"override {path!r}: {'.'.join(parts[:i])} is not a mapping")
            if last:
                node[part] = value
            else:
                if part == "with" and part not in node:
                    node[part] = {}
                if part not in node:
                    raise RecipeError(f"override {path!r}: no key {'.'.join(parts[:i + 1])!r} in the recipe",
                                      hint="check the key path; new engines or stages cannot be added with --set")
                node = node[part]
            i += 1
    return data
