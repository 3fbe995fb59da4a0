"""The openai engine against the fault-injecting server: retries, isolation, order, concurrency,
start() checks."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import socket

import pytest

from curate.engine import ChatRequest, EngineError, SamplingParams
from curate.testing.fault_server import CONTEXT_MARKER, Fault, FaultServer
from curate_openai import OpenAIEngine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_engine(srv: FaultServer, **params) -> tuple[OpenAIEngine, list[float]]:
    """An engine for ``srv`` whose backoff waits are recorded instead of slept."""
    engine = OpenAIEngine({"model": "echo", "base_url": srv.base_url, "api_key_env": None, "timeout": 5,
                           "backoff_base": 0.5, "backoff_max": 4, **params})
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    engine._sleep = record
    return engine, waits


def req(text: str, id: str | None = None, **sampling) -> ChatRequest:
    return ChatRequest(id or text, [{"role": "user", "content": text}], SamplingParams(**sampling))


def attempts_for(srv: FaultServer, text: str) -> int:
    return sum(1 for b in srv.bodies if b["messages"][-1]["content"] == text)


# --- retries ---------------------------------------------------------------------------------

def test_429_retry_after_seconds_is_honoured():
    with FaultServer(script={"busy": [Fault.rate_limit(retry_after=7), Fault.rate_limit(retry_after=3)]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("busy now")])
    assert result.ok and result.completions[0].text == "busy now"
    assert waits == [7.0, 3.0]
    assert attempts_for(srv, "busy now") == 3


def test_429_retry_after_http_date_is_honoured():
    when = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30), usegmt=True)
    with FaultServer(script={"busy": [Fault.rate_limit(retry_after=when)]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("busy")])
    assert result.ok
    assert len(waits) == 1 and 25 <= waits[0] <= 30


def test_a_retry_after_beyond_ten_minutes_fails_the_request_instead_of_stalling():
    with FaultServer(script={"quota": [Fault.rate_limit(retry_after=3600)]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("quota")])
    assert not result.ok and "HTTP 429" in result.error and "retry after 3600 s" in result.error
    assert waits == [] and attempts_for(srv, "quota") == 1


@pytest.mark.parametrize("fault", ["500", "503", "408", "409", Fault.error(429, retry_after=None), "reset"])
def test_transient_failure_then_success(fault):
    with FaultServer(script={"flaky": [fault]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("flaky")])
    assert result.ok and result.completions[0].text == "flaky"
    assert attempts_for(srv, "flaky") == 2
    assert len(waits) == 1 and 0 <= waits[0] <= 0.5  # full jitter under the first ceiling


def test_hang_past_the_timeout_is_retried():
    with FaultServer(script={"slow": ["hang"]}) as srv:
        engine, _ = make_engine(srv, timeout=0.3)
        [result] = engine.generate([req("slow")])
    assert result.ok and result.completions[0].text == "slow"
    assert attempts_for(srv, "slow") == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_not_retried(status):
    with FaultServer(script={"bad": [Fault.error(status, "you sent something wrong")]}) as srv:
        engine, waits = make_engine(srv)
        [result] = engine.generate([req("bad")])
    assert not result.ok and result.completions == []
    assert f"HTTP {status}" in result.error and "you sent something wrong" in result.error
    assert "after 1 attempt" in result.error
    assert attempts_for(srv, "bad") == 1 and waits == []


def test_attempts_are_bounded():
    with FaultServer(script={"down": ["500"] * 20}) as srv:
        engine, waits = make_engine(srv, max_attempts=4)
        [result] = engine.generate([req("down")])
    assert not result.ok and "HTTP 500" in result.error and "after 4 attempts" in result.error
    assert attempts_for(srv, "down") == 4
    assert len(waits) == 3
    assert all(0 <= w <= c for w, c in zip(waits, [0.5, 1.0, 2.0]))  # exponential ceilings


def test_timeouts_exhausting_attempts_fail_with_the_reason():
    with FaultServer(script={"slow": ["hang"] * 5}) as srv:
        engine, _ = make_engine(srv, timeout=0.2, max_attempts=2)
        [result] = engine.generate([req("slow")])
    assert not result.ok and "timeout" in result.error and "after 2 attempts" in result.error
    assert attempts_for(srv, "slow") == 2


# --- isolation, order, concurrency -----------------------------------------------------------

def test_one_failing_request_fails_only_itself():
    script = {"bad": ["400"], "down": ["500"] * 10, "flaky": ["reset", "429"]}
    texts = ["fine 1", "bad", f"{CONTEXT_MARKER} way too long", "down", "flaky", "fine 2"]
    with FaultServer(script=script) as srv:
        engine, _ = make_engine(srv, max_attempts=3)
        results = engine.generate([req(t) for t in texts])
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == texts
    for text in ("fine 1", "flaky", "fine 2"):
        assert by_id[text].ok and by_id[text].completions[0].text == text
    for text in ("bad", f"{CONTEXT_MARKER} way too long", "down"):
        assert not by_id[text].ok and by_id[text].completions == [] and by_id[text].error
    assert "maximum context length" in by_id[f"{CONTEXT_MARKER} way too long"].error
    assert attempts_for(srv, f"{CONTEXT_MARKER} way too long") == 1


def test_results_come_back_in_request_order_while_on_result_sees_completion_order():
    script = {"first": [Fault.slow(0.5)]}
    texts = ["first"] + [f"then {i}" for i in range(7)]
    seen = []
    with FaultServer(script=script) as srv:
        engine, _ = make_engine(srv, max_in_flight=8)
        results = engine.generate([req(t) for t in texts], on_result=lambda r: seen.append(r.id))
    assert [r.id for r in results] == texts
    assert [r.completions[0].text for r in results] == texts
    assert sorted(seen) == sorted(texts) and seen[-1] == "first"  # delivered as completed


def test_requests_in_flight_are_bounded():
    with FaultServer(latency=0.05) as srv:
        engine, _ = make_engine(srv, max_in_flight=4)
        results = engine.generate([req(f"q{i}") for i in range(40)])
        stats = srv.stats()
    assert all(r.ok for r in results)
    assert stats["chat_requests"] == 40
    assert stats["max_in_flight"] == 4


def test_request_mapping_reaches_the_server():
    schema = {"title": "Echo", "type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    sampling = SamplingParams(n=2, temperature=0.3, top_p=0.8, max_tokens=3, seed=9, stop=["END"], logprobs=2)
    with FaultServer() as srv:
        engine, _ = make_engine(srv, extra_body={"top_k": 5})
        [result] = engine.generate([ChatRequest("a", [{"role": "user", "content": "one two three four"}], sampling,
                                                json_schema=schema)])
        [body] = srv.bodies
    assert body["n"] == 2 and body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["max_tokens"] == 3
    assert body["seed"] == 9 and body["stop"] == ["END"] and body["top_logprobs"] == 2 and body["top_k"] == 5
    assert body["response_format"]["json_schema"] == {"name": "Echo", "schema": schema, "strict": True}
    assert result.ok and len(result.completions) == 2
    assert [c.finish_reason for c in result.completions] == ["length", "length"]
    assert result.completions[0].text == '{"echo": "one two three"}'
    assert len(result.completions[0].logprobs) == 3
    assert result.prompt_tokens == 4 and result.completion_tokens == 6


def test_generate_inside_a_running_event_loop():
    with FaultServer() as srv:
        engine, _ = make_engine(srv)

        async def main():
            return engine.generate([req("from a notebook")])

        [result] = asyncio.run(main())
    assert result.ok and result.completions[0].text == "from a notebook"


def test_an_exception_in_on_result_stops_the_batch():
    with FaultServer(latency=0.05) as srv:
        engine, _ = make_engine(srv, max_in_flight=2)

        def boom(result):
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            engine.generate([req(f"q{i}") for i in range(20)], on_result=boom)
        sent = srv.stats()["chat_requests"]
    assert sent < 20


# --- start() ---------------------------------------------------------------------------------

def test_start_unreachable_server_says_the_url_and_how_to_start_one():
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = OpenAIEngine(model="m", base_url=url, api_key_env=None)
    with pytest.raises(EngineError) as err:
        engine.start()
    assert url in str(err.value) and "vllm serve" in str(err.value)


def test_start_unknown_model_lists_the_served_models():
    with FaultServer(models=["alpha", "beta"]) as srv:
        engine = OpenAIEngine(model="gamma", base_url=srv.base_url, api_key_env=None)
        with pytest.raises(EngineError) as err:
            engine.start()
    assert "'gamma'" in str(err.value) and "alpha, beta" in str(err.value)


def test_start_accepts_a_served_model_and_skips_the_check_without_models_endpoint(caplog):
    with FaultServer(models=["alpha"]) as srv:
        OpenAIEngine(model="alpha", base_url=srv.base_url, api_key_env=None).start()
    with FaultServer(models=None) as srv, caplog.at_level(logging.WARNING, "curate.openai"):
        engine = OpenAIEngine(model="anything", base_url=srv.base_url, api_key_env=None)
        engine.start()
        [result] = engine.generate([req("still works")])
    assert "404" in caplog.text
    assert result.ok


def test_start_retries_a_briefly_unhealthy_server_then_reports_it():
    with FaultServer(models_script=["503", "502"]) as srv:
        engine, waits = make_engine(srv, max_attempts=3)
        engine.start()  # third try answers
        assert srv.stats()["model_requests"] == 3 and len(waits) == 2
    with FaultServer(models_script=["503"] * 5) as srv:
        engine, _ = make_engine(srv, max_attempts=2)
        with pytest.raises(EngineError, match="not healthy.*HTTP 503"):
            engine.start()


def test_hosted_api_without_key_names_the_env_var(monkeypatch):
    monkeypatch.delenv("CURATE_TEST_NO_SUCH_KEY", raising=False)
    engine = OpenAIEngine(model="gpt-4o-mini", api_key_env="CURATE_TEST_NO_SUCH_KEY")
    with pytest.raises(EngineError, match="CURATE_TEST_NO_SUCH_KEY"):
        engine.start()


def test_rejected_key_names_the_env_var(monkeypatch):
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-wrong-key-123456")
    with FaultServer(api_key="sk-right-key-654321") as srv:
        engine = OpenAIEngine(model="echo", base_url=srv.base_url, api_key_env="CURATE_TEST_KEY")
        with pytest.raises(EngineError) as err:
            engine.start()
    assert "CURATE_TEST_KEY" in str(err.value) and "401" in str(err.value)
    assert "sk-wrong-key-123456" not in str(err.value)


# --- params and identity ---------------------------------------------------------------------

def test_identity_is_backend_model_and_url_only(monkeypatch):
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-secret-identity-0001")
    a = OpenAIEngine(model="m", base_url="http://127.0.0.1:8000/v1/", api_key_env="CURATE_TEST_KEY",
                     max_in_flight=7, timeout=3, max_attempts=2)
    b = OpenAIEngine(model="m", base_url="http://127.0.0.1:8000/v1")
    assert a.identity() == b.identity() == {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:8000/v1"}
    assert "sk-secret" not in repr(a.identity()) + repr(a.params)
    c = OpenAIEngine(model="m", base_url="http://127.0.0.1:8000/v1", extra_body={"top_k": 3})
    assert c.identity() != b.identity()  # changes outputs, so it changes cache keys


@pytest.mark.parametrize("params, message", [
    ({"base_url": "127.0.0.1:8000"}, "http(s) URL"),
    ({"base_url": "http://user:sk-abc@host/v1"}, "credentials"),
    ({"api_key_env": "sk-1234 5678"}, "NAME of an environment variable"),
    ({"backoff_base": 10, "backoff_max": 1}, "backoff_base"),
    ({"max_attempts": 0}, "greater than or equal to 1"),
])
def test_bad_params_are_rejected(params, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OpenAIEngine({"model": "m", **params})
