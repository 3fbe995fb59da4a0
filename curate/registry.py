"""The registry: component classes by kind and name, and who registered them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from curate.component import KINDS, Component, Dedup, Filter, Generator, Judge, Reader, Writer
from curate.engine import Engine
from curate.errors import PluginError, RecipeError

BASES: dict[str, type[Component]] = {
    "reader": Reader,
    "writer": Writer,
    "generator": Generator,
    "judge": Judge,
    "filter": Filter,
    "dedup": Dedup,
    "engine": Engine,
}
STAGE_KINDS = tuple(k for k in KINDS if k != "engine")


@dataclass(frozen=True)
class Origin:
    plugin: str
    package: str | None
    version: str | None


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, dict[str, type[Component]]] = {k: {} for k in KINDS}
        self._origins: dict[tuple[str, str], Origin] = {}
        #: plugin name -> error message, for plugins that failed to import or register.
        self.failed: dict[str, str] = {}

    def register_callable(self, kind: str, origin: Origin) -> Callable[[type[Component]], type[Component]]:
        """Build the ``register`` callable handed to one plugin's registration hook."""

        def register(cls: type[Component]) -> type[Component]:
            self.add(kind, cls, origin)
            return cls

        return register

    def add(self, kind: str, cls: type[Component], origin: Origin) -> None:
        base = BASES[kind]
        where = f"plugin {origin.plugin!r}"
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{where} registered {cls!r} as a {kind}, but it is not a subclass of curate.{base.__name__}")
        if not cls.name:
            raise PluginError(f"{where} registered {cls.__name__} without a `name` class attribute")
        undescribed = [f for f, info in cls.Params.model_fields.items() if not info.description]
        if undescribed:
            raise PluginError(
                f"{where}: {cls.name} params {undescribed} have no description; "
                "give every field Field(..., description=...)"
            )
        existing = self._classes[kind].get(cls.name)
        if existing is not None and existing is not cls:
            first = self._origins[(kind, cls.name)]
            raise PluginError(
                f"two plugins register the {kind} {cls.name!r}: {first.plugin!r} "
                f"({existing.__module__}.{existing.__qualname__}) and {origin.plugin!r} "
                f"({cls.__module__}.{cls.__qualname__}); disable one with CURATE_DISABLE_PLUGINS"
            )
        cls.package, cls.version = origin.package, origin.version
        self._classes[kind][cls.name] = cls
        self._origins[(kind, cls.name)] = origin

    def origin(self, cls: type[Component]) -> Origin:
        return self._origins[(cls.kind, cls.name)]

    def names(self, kinds: tuple[str, ...] = KINDS) -> list[str]:
        return sorted(n for k in kinds for n in self._classes[k])

    def items(self, kind: str) -> list[type[Component]]:
        return [self._classes[kind][n] for n in sorted(self._classes[kind])]

    def find(self, name: str, kinds: tuple[str, ...] = KINDS) -> type[Component] | None:
        for kind in kinds:
            if name in self._classes[kind]:
                return self._classes[kind][name]
        return None

    def get(self, name: str, kinds: tuple[str, ...] = STAGE_KINDS, *, where: str | None = None) -> type[Component]:
        """Look a component up, or raise a :class:`RecipeError` with a "did you mean"."""
        cls = self.find(name, kinds)
        if cls is not None:
            return cls
        what = "engine" if kinds == ("engine",) else "plugin component"
        hint = None
        close = difflib.get_close_matches(name, self.names(kinds), n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = "run `curate plugins` to list what is installed"
        if self.failed:
            hint += "; these plugins failed to load and may provide it: " + "; ".join(
                f"{plugin!r} ({error})" for plugin, error in sorted(self.failed.items()))
        raise RecipeError(f"unknown {what} {name!r}", where=where, hint=hint)
