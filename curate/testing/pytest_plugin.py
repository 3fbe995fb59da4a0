"""pytest fixtures for curate plugin authors; loaded automatically when curate is installed."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Iterator

import pytest


@pytest.fixture
def curate_plugin() -> Iterator[Callable[..., Any]]:
    """Register a plugin (module or object with hookimpls) for the duration of one test.

    ``curate_plugin(module)`` returns the refreshed registry.
    """
    from curate.plugins import temporary_plugin

    with ExitStack() as stack:
        yield lambda plugin, name=None: stack.enter_context(temporary_plugin(plugin, name))


@pytest.fixture
def scripted_engine() -> Callable[..., Any]:
    """Factory for :class:`curate.testing.ScriptedEngine` (``scripted_engine(["reply", ...])``)."""
    from curate.testing import ScriptedEngine

    return ScriptedEngine


@pytest.fixture
def object_store() -> Iterator[Any]:
    """A running :class:`curate.testing.object_store.ObjectStoreServer` (skipped without moto/s3fs)."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from curate.testing.object_store import ObjectStoreServer

    with ObjectStoreServer() as store:
        yield store
