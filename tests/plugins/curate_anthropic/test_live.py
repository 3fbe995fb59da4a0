"""The anthropic engine, live, against the Anthropic test server: retries (429 with retry-after,
529 overloaded, 5xx), what is sent, tokens, structured output through a forced tool, start() checks."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from curate import ChatRequest, EngineError, SamplingParams, generate_structured
from curate.testing import AnthropicServer
from curate.testing.fault_server import Fault

from .conftest import make_engine, req


def attempts_for(srv, text: str) -> int:
    return sum(1 for b in srv.bodies if b["messages"][-1]["content"] == text)


def test_429_retry_after_and_529_overloaded_are_retried():
    script = {"busy": [Fault.rate_limit(retry_after=7), Fault.error(529, "Overloaded"), "500"]}
    with AnthropicServer(script=script) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("busy now")])
        faults = srv.stats()["faults"]
    assert result.ok and result.completions[0].text == "busy now"
    assert waits[0] == 7.0  # the server's retry-after, as given
    assert all(0 <= w <= c for w, c in zip(waits[1:], [1.0, 2.0]))  # then backoff with jitter
    assert attempts_for(srv, "busy now") == 4 and faults == {"429": 1, "529": 1, "500": 1}
    assert engine.retries == 3


def test_attempts_are_bounded_and_the_reason_kept():
    with AnthropicServer(script={"down": [Fault.error(529, "Overloaded")] * 10}) as srv:
        engine, waits = make_engine(srv, max_attempts=3)
        [result] = engine.generate([req("down")])
    assert not result.ok and result.completions == []
    assert "HTTP 529: overloaded_error: Overloaded" in result.error and "after 3 attempts" in result.error
    assert attempts_for(srv, "down") == 3 and len(waits) == 2


@pytest.mark.parametrize("status", [400, 401, 404])
def test_other_4xx_are_not_retried(status):
    with AnthropicServer(script={"bad": [Fault.error(status, "you sent something wrong")]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("bad")])
    assert not result.ok and "you sent something wrong" in result.error and "after 1 attempt" in result.error
    assert attempts_for(srv, "bad") == 1 and waits == []


def test_what_is_sent_and_the_tokens_reported():
    with AnthropicServer() as srv:
        engine, _ = make_engine(srv, extra_body={"top_k": 3})
        [result] = engine.generate([req("one two three four", system="Answer briefly.", max_tokens=3,
                                        temperature=0.2, stop=["END"])])
        [body] = srv.bodies
    assert body["system"] == "Answer briefly." and body["messages"] == [{"role": "user",
                                                                         "content": "one two three four"}]
    assert body["max_tokens"] == 3 and body["temperature"] == 0.2 and body["stop_sequences"] == ["END"]
    assert body["top_k"] == 3
    assert result.completions[0].text == "one two three" and result.completions[0].finish_reason == "length"
    assert result.prompt_tokens == 6 and result.completion_tokens == 3  # system + user words; echoed words


def test_n_samples_are_n_requests_and_their_tokens_add_up():
    with AnthropicServer(script={"twice": ["500"]}) as srv:
        engine, _ = make_engine(srv)
        results = engine.generate([req("say twice", n=3), req("once")])
        stats = srv.stats()
    assert [len(r.completions) for r in results] == [3, 1] and all(r.ok for r in results)
    assert stats["responses_ok"] == 4 and stats["chat_requests"] == 5  # one sample retried once
    assert results[0].prompt_tokens == 3 * 2 and results[0].completion_tokens == 3 * 2


def test_one_failing_sample_fails_its_request_only():
    with AnthropicServer(script={"bad": ["400"]}) as srv:
        engine, _ = make_engine(srv)
        bad, good = engine.generate([req("bad one", n=2), req("good one")])
    assert not bad.ok and "sample" in bad.error and good.ok


class Verdict(BaseModel):
    winner: str
    confidence: int


def test_json_schema_requests_use_a_forced_tool():
    with AnthropicServer() as srv:
        engine, _ = make_engine(srv)
        assert engine.supports_json_schema
        [[answer]] = generate_structured(engine, [req("who won?")], Verdict)
        [body] = srv.bodies
    assert body["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert body["tools"][0]["input_schema"]["properties"].keys() == {"winner", "confidence"}
    assert answer.ok and isinstance(answer.value.winner, str) and answer.value.winner


def test_requests_in_flight_are_bounded_and_order_kept():
    with AnthropicServer(latency=0.05) as srv:
        engine, _ = make_engine(srv, max_in_flight=3)
        results = engine.generate([req(f"q{i}") for i in range(15)])
        stats = srv.stats()
    assert [r.completions[0].text for r in results] == [f"q{i}" for i in range(15)]
    assert stats["max_in_flight"] == 3


def test_a_request_the_api_cannot_take_fails_alone_without_being_sent():
    with AnthropicServer() as srv:
        engine, _ = make_engine(srv)
        hot, fine = engine.generate([req("hot", temperature=1.4), req("fine")])
    assert not hot.ok and "maximum of 1" in hot.error and fine.ok
    assert srv.stats()["chat_requests"] == 1


# --- start() ---------------------------------------------------------------------------------

def test_start_checks_key_and_model(monkeypatch):
    monkeypatch.setenv("CURATE_TEST_ANTHROPIC_KEY", "right-key-123")
    with AnthropicServer(api_key="right-key-123") as srv:
        engine, _ = make_engine(srv, api_key_env="CURATE_TEST_ANTHROPIC_KEY")
        engine.start()  # fine
        unknown, _ = make_engine(srv, api_key_env="CURATE_TEST_ANTHROPIC_KEY", model="claude-nope")
        with pytest.raises(EngineError, match="does not know the model 'claude-nope'"):
            unknown.start()
        monkeypatch.setenv("CURATE_TEST_ANTHROPIC_KEY", "wrong-key-456")
        with pytest.raises(EngineError, match="refused the API key") as info:
            engine.start()
    assert "wrong-key-456" not in str(info.value)


def test_start_without_a_key_for_a_hosted_api_says_how_to_fix(monkeypatch):
    from curate_anthropic import AnthropicEngine

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(EngineError, match="export ANTHROPIC_API_KEY="):
        AnthropicEngine(model="claude-haiku-4-5").start()


def test_start_retries_a_busy_server_then_says_it_is_unhealthy():
    with AnthropicServer(models_script=["529", "529", "529"]) as srv:
        engine, waits = make_engine(srv, max_attempts=3)
        with pytest.raises(EngineError, match="not healthy.*HTTP 529"):
            engine.start()
    assert len(waits) == 2


def test_params_reject_a_key_in_place_of_its_variable_name_and_drop_v1():
    from curate_anthropic import AnthropicParams

    with pytest.raises(ValueError, match="NAME of an environment variable"):
        AnthropicParams(model="m", api_key_env="sk-ant-abc-123")
    assert AnthropicParams(model="m", base_url="http://gw.local:8080/v1/").base_url == "http://gw.local:8080"


def test_identity_leaves_out_batch_settings_and_pricing():
    from curate_anthropic import AnthropicEngine

    live = AnthropicEngine(model="claude-x")
    batch = AnthropicEngine(model="claude-x", batch=True, batch_poll_interval=5, max_in_flight=2,
                            pricing={"prompt_per_mtok": 3, "completion_per_mtok": 15})
    assert live.identity() == batch.identity() == {"backend": "anthropic", "model": "claude-x",
                                                    "base_url": "https://api.anthropic.com"}
    req_ = ChatRequest("a", [{"role": "user", "content": "hi"}], SamplingParams())
    assert req_.fingerprint(live.identity()) == req_.fingerprint(batch.identity())
