"""Fixtures for the anthropic engine tests: the engine registered, and an engine for a test
server whose backoff waits are recorded instead of slept."""

from __future__ import annotations

from typing import Iterator

import pytest

from curate import ChatRequest, SamplingParams


@pytest.fixture
def anthropic_registered() -> Iterator[None]:
    """Make sure the ``anthropic`` engine is in the registry, installed or not."""
    import curate_anthropic

    from ..conftest import registered

    with registered(curate_anthropic, "anthropic", "engine", "curate-anthropic"):
        yield


def make_engine(srv, **params):
    """An engine for ``srv`` whose live and batch waits are recorded instead of slept."""
    from curate_anthropic import AnthropicEngine

    engine = AnthropicEngine({"model": "claude-test", "base_url": srv.base_url, "api_key_env": None, "timeout": 5,
                              "backoff_base": 0.5, "backoff_max": 4, **params})
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    engine._async_sleep = record
    return engine, waits


def req(text: str, id: str | None = None, system: str | None = None, **sampling) -> ChatRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return ChatRequest(id or text, messages, SamplingParams(**sampling))
