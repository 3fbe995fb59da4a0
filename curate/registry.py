"""The registry: component and engine classes by kind and name, and who registered them.

:data:`KINDS` is the one table of what a plugin can register: the kind's name, the base class a
registered class must subclass, and the hook that registers it. Adding a kind is one row here and
one hookspec in :mod:`curate.hookspecs`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from curate.component import Component, Dedup, Filter, Generator, Judge, Reader, Writer
from curate.engine import ChatEngine, Engine, ScoreEngine
from curate.errors import PluginError, RecipeError
from curate.runner.executor import Executor


@dataclass(frozen=True)
class Kind:
    name: str
    base: type
    hook: str
    #: What a person calls it in messages.
    label: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("reader", Reader, "curate_register_readers", "reader"),
    Kind("writer", Writer, "curate_register_writers", "writer"),
    Kind("generator", Generator, "curate_register_generators", "generator"),
    Kind("judge", Judge, "curate_register_judges", "judge"),
    Kind("filter", Filter, "curate_register_filters", "filter"),
    Kind("dedup", Dedup, "curate_register_dedups", "deduplicator"),
    Kind("engine", ChatEngine, "curate_register_engines", "chat engine"),
    Kind("score_engine", ScoreEngine, "curate_register_score_engines", "score engine"),
    Kind("executor", Executor, "curate_register_executors", "executor"),
)}
ENGINE_KINDS = ("engine", "score_engine")
EXECUTOR_KINDS = ("executor",)
STAGE_KINDS = tuple(k for k in KINDS if k not in ENGINE_KINDS + EXECUTOR_KINDS)

Registrable = type[Component] | type[Engine] | type[Executor]


@dataclass(frozen=True)
class Origin:
    plugin: str
    package: str | None
    version: str | None


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, dict[str, Registrable]] = {k: {} for k in KINDS}
        self._origins: dict[tuple[str, str], Origin] = {}
        #: plugin name -> error message, for plugins that failed to import or register.
        self.failed: dict[str, str] = {}

    def register_callable(self, kind: str, origin: Origin) -> Callable[[Any], Any]:
        """Build the ``register`` callable handed to one plugin's registration hook."""

        def register(cls: Any) -> Any:
            self.add(kind, cls, origin)
            return cls

        return register

    def add(self, kind: str, cls: Any, origin: Origin) -> None:
        base = KINDS[kind].base
        where = f"plugin {origin.plugin!r}"
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{where} registered {cls!r} as a {KINDS[kind].label}, but it is not a subclass "
                              f"of curate.{base.__name__}")
        if not cls.name:
            raise PluginError(f"{where} registered {cls.__name__} without a `name` class attribute")
        undescribed = [f for f, info in cls.Params.model_fields.items() if not info.description]
        if undescribed:
            raise PluginError(f"{where}: {cls.name} params {undescribed} have no description; "
                              "give every field Field(..., description=...)")
        for other in KINDS:
            existing = self._classes[other].get(cls.name)
            if existing is not None and existing is not cls and (other == kind or {other, kind} <= set(ENGINE_KINDS)):
                first = self._origins[(other, cls.name)]
                raise PluginError(
                    f"two plugins register the {KINDS[kind].label} {cls.name!r}: {first.plugin!r} "
                    f"({existing.__module__}.{existing.__qualname__}) and {origin.plugin!r} "
                    f"({cls.__module__}.{cls.__qualname__}); disable one with CURATE_DISABLE_PLUGINS")
        cls.package, cls.version = origin.package, origin.version
        self._classes[kind][cls.name] = cls
        self._origins[(kind, cls.name)] = origin

    def kind_of(self, cls: Registrable) -> str:
        for kind, classes in self._classes.items():
            if classes.get(cls.name) is cls:
                return kind
        raise KeyError(cls.name)

    def origin(self, cls: Registrable) -> Origin:
        return self._origins[(self.kind_of(cls), cls.name)]

    def names(self, kinds: tuple[str, ...] = tuple(KINDS)) -> list[str]:
        return sorted(n for k in kinds for n in self._classes[k])

    def items(self, kind: str) -> list[Registrable]:
        return [self._classes[kind][n] for n in sorted(self._classes[kind])]

    def find(self, name: str, kinds: tuple[str, ...] = tuple(KINDS)) -> Registrable | None:
        for kind in kinds:
            if name in self._classes[kind]:
                return self._classes[kind][name]
        return None

    def get(self, name: str, kinds: tuple[str, ...] = STAGE_KINDS, *, where: str | None = None) -> Any:
        """Look a class up, or raise a :class:`RecipeError` with a "did you mean"."""
        cls = self.find(name, kinds)
        if cls is not None:
            return cls
        what = ("engine" if set(kinds) <= set(ENGINE_KINDS) else "executor" if set(kinds) <= set(EXECUTOR_KINDS)
                else "plugin component")
        close = difflib.get_close_matches(name, self.names(kinds), n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = "run `curate plugins` to list what is installed"
        if self.failed:
            hint += "; these plugins failed to load and may provide it: " + "; ".join(
                f"{plugin!r} ({error})" for plugin, error in sorted(self.failed.items()))
        raise RecipeError(f"unknown {what} {name!r}", where=where, hint=hint)
