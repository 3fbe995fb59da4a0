"""Fixtures shared by the plugin tests."""

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random Llama with a ChatML template, built offline (a few seconds, once per session)."""
    pytest.importorskip("transformers")
    from curate.testing.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
