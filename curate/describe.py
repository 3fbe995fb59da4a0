"""Human-readable descriptions of components (``curate describe``, generated docs)."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from curate.component import Component, Dedup, Source
from curate.registry import KINDS


def _type_name(info: FieldInfo) -> str:
    ann = info.annotation
    text = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    return text or str(ann).replace("typing.", "")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return repr(info.default_factory())  # type: ignore[call-arg]
    return "" if info.default is PydanticUndefined else repr(info.default)


def param_rows(cls: type[Component]) -> list[tuple[str, str, str, str]]:
    return [(name, _type_name(info), _default(info), info.description or "")
            for name, info in cls.Params.model_fields.items()]


def columns_of(cls: type[Component]) -> tuple[list[Any], list[str]]:
    """Declared columns with default params (when the params can be defaulted)."""
    try:
        inst = cls()
    except Exception:  # noqa: BLE001 - required params: fall back to the class declaration
        return list(cls.reads), list(cls.writes)
    return inst.input_columns(), inst.output_columns()


_PARTITIONING = {
    "rows": "runs over any batch of rows",
    "groups": "runs over whole groups of rows (every row sharing its group keys in one call)",
    "global": "sees the whole dataset at once (after a row-local prepare step)",
}


def _partitioning(cls: type[Component]) -> str:
    try:
        return cls().partitioning
    except Exception:  # noqa: BLE001 - required params: judge by the class
        return "global" if issubclass(cls, Dedup) else ("groups" if getattr(cls, "group_by", ()) else "rows")


def describe(name: str) -> str:
    from curate.plugins import registry

    reg = registry()
    cls = reg.get(name, tuple(KINDS))
    origin = reg.origin(cls)
    kind = KINDS[reg.kind_of(cls)].label
    lines = [f"{cls.name} ({kind}) from {origin.package or origin.plugin} {origin.version or ''}".rstrip(), ""]
    doc = (cls.__doc__ or "").strip()
    if doc:
        lines += [doc, ""]
    lines.append("params:")
    for pname, ptype, default, desc in param_rows(cls):
        lines.append(f"  {pname}: {ptype} = {default}")
        if desc:
            lines.append(f"      {desc}")
    if issubclass(cls, Component):
        reads, writes = columns_of(cls)
        fmt = lambda c: " | ".join(c) if isinstance(c, tuple) else c  # noqa: E731
        lines += ["", f"reads columns:  {', '.join(fmt(c) for c in reads) or '-'}",
                  f"writes columns: {', '.join(writes) or '-'}"]
        if issubclass(cls, Source):
            lines.append("a source: makes rows from its params (may start a branch with `inputs: []`)")
        lines.append(_PARTITIONING.get(_partitioning(cls), ""))
    return "\n".join(lines)
