"""Fixtures shared by the plugin tests."""

from contextlib import contextmanager
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random Llama with a ChatML template, built offline (a few seconds, once per session)."""
    pytest.importorskip("transformers")
    from curate.testing.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@contextmanager
def registered(module, component: str, kind: str, package: str) -> Iterator[None]:
    """Make sure ``module``'s components are in the registry, whether its package is installed or
    not (an installed plugin is used as is; otherwise it is registered for the block)."""
    from curate.plugins import registry, temporary_plugin

    if registry().find(component, (kind,)) is not None:
        yield
        return
    with temporary_plugin(module, f"{package}-under-test", package=package):
        yield
