"""Plugin loading: entry points of group ``curate``, filtered by environment variables.

* ``CURATE_LOAD_PLUGINS=a,b`` loads only these entry-point plugins (empty string: none);
* ``CURATE_DISABLE_PLUGINS=a,b`` never imports these;
* ``CURATE_TRACE_PLUGINS=1`` prints every hook call.

Names are entry-point names or distribution names. Both lists are applied *before* a plugin is
imported. A plugin that fails to import is recorded in ``registry.failed`` and reported when a
recipe asks for one of its components; runs that do not use it are unaffected.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

import pluggy

from curate import hookspecs
from curate.errors import PluginError
from curate.registry import KINDS, Origin, Registry

ENTRY_POINT_GROUP = "curate"

_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None
_failed: dict[str, str] = {}
_origins: dict[str, Origin] = {}


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _allowed(ep: md.EntryPoint) -> bool:
    names = {ep.name, getattr(ep.dist, "name", None) or ""}
    disabled = _env_list("CURATE_DISABLE_PLUGINS") or set()
    if names & disabled:
        return False
    only = _env_list("CURATE_LOAD_PLUGINS")
    return only is None or bool(names & only)


def _new_manager() -> pluggy.PluginManager:
    global _failed, _origins
    _failed, _origins = {}, {}
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    from curate import __version__, builtins

    pm.register(builtins, name="curate")
    _origins["curate"] = Origin("curate", "curate-llm", __version__)
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if not _allowed(ep) or pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            pm.check_pending()
        except Exception as exc:  # noqa: BLE001 - any import error must not break other plugins
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            _failed[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        dist = ep.dist
        _origins[ep.name] = Origin(ep.name, dist.name if dist else None, dist.version if dist else None)
    if os.environ.get("CURATE_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def plugin_manager() -> pluggy.PluginManager:
    global _pm
    if _pm is None:
        _pm = _new_manager()
    return _pm


def _build_registry(pm: pluggy.PluginManager) -> Registry:
    registry = Registry()
    registry.failed.update(_failed)
    trace = pm.trace.root.get("register")  # prints only when CURATE_TRACE_PLUGINS set a writer
    for kind in KINDS.values():
        for impl in getattr(pm.hook, kind.hook).get_hookimpls():
            origin = _origins.get(impl.plugin_name) or Origin(impl.plugin_name, None, None)
            # Each plugin's hook is called on its own, so that what it registers is attributed to it.
            kwargs: dict[str, Any] = {"register": registry.register_callable(kind.name, origin)}
            trace(kind.hook, f"plugin={impl.plugin_name!r}")
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except PluginError:
                raise
            except Exception as exc:  # noqa: BLE001
                registry.failed[impl.plugin_name] = f"{type(exc).__name__} while registering: {exc}"
                if os.environ.get("CURATE_DEBUG"):
                    traceback.print_exc()
    return registry


def registry() -> Registry:
    """The registry of every loaded plugin's components (built once, then cached)."""
    global _registry
    if _registry is None:
        _registry = _build_registry(plugin_manager())
    return _registry


def reset() -> None:
    """Forget loaded plugins; the next call reloads them (honouring the environment again)."""
    global _pm, _registry
    _pm, _registry = None, None


@contextmanager
def temporary_plugin(plugin: object, name: str | None = None, *, package: str | None = None,
                     version: str | None = None) -> Iterator[Registry]:
    """Register ``plugin`` (a module or object with hookimpls) until the block exits.

    A plugin that is already registered (e.g. the module of an installed package, loaded through
    its entry point) is used as it is: the block gets the registry, and the plugin stays
    registered afterwards. So a plugin's tests pass both before and after it is installed.
    """
    global _registry
    pm = plugin_manager()
    if pm.is_registered(plugin):
        _registry = None  # in case it was registered on the plugin manager after the registry was built
        yield registry()
        return
    name = pm.register(plugin, name=name)
    _origins[name] = Origin(name, package, version)
    _registry = None
    try:
        yield registry()
    finally:
        pm.unregister(name=name)
        _origins.pop(name, None)
        _registry = None
