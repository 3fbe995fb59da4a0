"""Safe YAML loading that remembers the line of every key and rejects what a recipe must not hold:
duplicate keys and non-standard tags such as ``!!python/object``."""

from __future__ import annotations

from typing import Any

import yaml

from curate.errors import RecipeError

KeyPath = tuple[str | int, ...]
_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}


def render_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(text: str, filename: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``text``; return the data and a map from key path to 1-based line number."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise RecipeError(f"invalid YAML: {exc.problem or exc.context}", where=f"{filename}{line}",
                          hint="check indentation and quoting on that line") from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {(): 1}
    if node is None:
        return None, lines

    def walk(n: yaml.Node, path: KeyPath) -> Any:
        where = f"{filename}:{n.start_mark.line + 1}"
        if n.tag not in _ALLOWED_TAGS:
            raise RecipeError(
                f"YAML tag {n.tag.replace(_STD, '!!')!r} is not allowed in a recipe"
                + (f" (at {render_path(path)})" if path else ""),
                where=where, hint="recipes hold plain data only; remove the tag",
            )
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k_node, v_node in n.value:
                if not isinstance(k_node, yaml.ScalarNode) or walk(k_node, path) is None:
                    raise RecipeError("mapping keys must be plain strings", where=f"{filename}:{k_node.start_mark.line + 1}")
                # Keys are their text as written: YAML 1.1 would read `on:` (a join key) as True.
                key = k_node.value
                if key in out:
                    raise RecipeError(
                        f"duplicate key {render_path(path + (key,))!r} (first on line {lines[path + (key,)]})",
                        where=f"{filename}:{k_node.start_mark.line + 1}", hint="remove or merge one of them",
                    )
                lines[path + (key,)] = k_node.start_mark.line + 1
                out[key] = walk(v_node, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            items = []
            for i, item in enumerate(n.value):
                lines[path + (i,)] = item.start_mark.line + 1
                items.append(walk(item, path + (i,)))
            return items
        return SafeConstructor.construct_scalar_value(n)

    return walk(node, ()), lines


class SafeConstructor(yaml.SafeLoader):
    _instance: "SafeConstructor | None" = None

    @classmethod
    def construct_scalar_value(cls, node: yaml.ScalarNode) -> Any:
        if cls._instance is None:
            cls._instance = cls("")
        return cls._instance.construct_object(node, deep=True)
