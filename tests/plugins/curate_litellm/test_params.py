"""The litellm engine's params and identity: these need no litellm installed."""

from __future__ import annotations

import pytest

from curate import ChatRequest
from curate_litellm import LiteLLMEngine, LiteLLMParams


def test_model_must_name_its_provider():
    with pytest.raises(ValueError, match="provider/model"):
        LiteLLMParams(model="gpt-4o-mini")
    assert LiteLLMParams(model="openai/gpt-4o-mini").model == "openai/gpt-4o-mini"


@pytest.mark.parametrize("bad", [{"api_key": "sk-1"}, {"aws_secret_access_key": "x"}, {"access_token": "t"}])
def test_keys_are_refused_in_extra_params(bad):
    with pytest.raises(ValueError, match="never in a recipe"):
        LiteLLMParams(model="openai/x", extra_params=bad)
    assert LiteLLMParams(model="openai/x", extra_params={"max_completion_tokens": 9, "top_k": 2}).extra_params


def test_identity_is_backend_model_base_and_sampling_params_never_keys(monkeypatch):
    monkeypatch.setenv("CURATE_TEST_LITELLM_KEY", "sk-never-in-identity")
    engine = LiteLLMEngine(model="anthropic/claude-haiku-4-5", api_base="http://gw:4000/", api_key_env=
                           "CURATE_TEST_LITELLM_KEY", extra_params={"top_k": 5}, max_in_flight=3, timeout=9,
                           pricing={"prompt_per_mtok": 1, "completion_per_mtok": 5})
    assert engine.identity() == {"backend": "litellm", "model": "anthropic/claude-haiku-4-5",
                                 "api_base": "http://gw:4000", "extra_params": {"top_k": 5}}
    assert "sk-never-in-identity" not in repr(engine.identity())
    other = LiteLLMEngine(model="anthropic/claude-haiku-4-5", api_base="http://gw:4000", extra_params={"top_k": 5})
    req = ChatRequest("a", [{"role": "user", "content": "hi"}])
    assert req.fingerprint(engine.identity()) == req.fingerprint(other.identity())  # concurrency, keys: no
