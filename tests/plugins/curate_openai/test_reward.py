"""The ``nim-reward`` and ``vllm-reward`` score engines: against the fault-injecting server (reply
shapes, retries, keys, start checks), and one slow test against a real ``vllm serve`` of the tiny
reward model."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from curate.engine import EngineError, ScoreRequest
from curate.engines.cache import CachedEngine
from curate.testing.fault_server import CONTEXT_MARKER, Fault, FaultServer
from curate_openai import NimRewardEngine, VllmRewardEngine

HELPSTEER = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_scores(body: dict) -> dict[str, float]:
    """What the fake reward model gives a pair: derived from the response, so a mix-up shows."""
    response = body["messages"][-1]["content"]
    return {a: round(len(response) / (k + 1) - k, 4) for k, a in enumerate(HELPSTEER)}


def attribute_text(body: dict, sample: int) -> str:
    return ",".join(f"{a}:{v:.2f}" for a, v in expected_scores(body).items())


def attribute_logprobs(body: dict, sample: int) -> list[dict]:
    return [{"token": a, "logprob": v, "bytes": None, "top_logprobs": []} for a, v in expected_scores(body).items()]


def engine_for(cls, srv: FaultServer, **params):
    """An engine for ``srv`` whose backoff waits are recorded instead of slept."""
    engine = cls({"model": "rm", "base_url": srv.base_url, "api_key_env": None, "timeout": 5, "backoff_base": 0.5,
                  "backoff_max": 4, **params})
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    engine._sleep = record
    return engine, waits


def pair(response: str, prompt: str = "Is the sky blue?", id: str | None = None) -> ScoreRequest:
    return ScoreRequest(id or response, [{"role": "user", "content": prompt}], response)


# --- nim-reward -------------------------------------------------------------------------------

def test_nim_content_is_parsed_and_the_pair_is_sent_as_user_then_assistant():
    with FaultServer(models=["rm"], responder=attribute_text) as srv:
        engine, _ = engine_for(NimRewardEngine, srv)
        engine.start()
        results = engine.score([pair("Yes, on a clear day."), pair("No.", prompt="Is grass red?")])
    assert all(r.ok for r in results)
    for result, body in zip(results, srv.bodies):
        assert result.scores == pytest.approx({a: round(v, 2) for a, v in expected_scores(body).items()})
    assert srv.bodies[0] == {"model": "rm", "messages": [{"role": "user", "content": "Is the sky blue?"},
                                                         {"role": "assistant", "content": "Yes, on a clear day."}]}
    assert [m["content"] for m in srv.bodies[1]["messages"]] == ["Is grass red?", "No."]


def test_nim_logprobs_are_parsed_when_the_content_is_not_an_attribute_list():
    with FaultServer(models=["rm"], responder=lambda body, i: "(scores in logprobs)",
                     logprobs_responder=attribute_logprobs) as srv:
        engine, _ = engine_for(NimRewardEngine, srv)
        [result] = engine.score([pair("A fine answer with some words.")])
    assert result.ok and result.scores == expected_scores(srv.bodies[0])


def test_nim_logprobs_win_over_rounded_content_naming_the_same_attributes():
    with FaultServer(models=["rm"], responder=attribute_text, logprobs_responder=attribute_logprobs) as srv:
        engine, _ = engine_for(NimRewardEngine, srv)
        [result] = engine.score([pair("Seven words make a longer answer here.")])
    assert result.scores == expected_scores(srv.bodies[0])  # 4 decimals, not the content's 2


@pytest.mark.parametrize("content", ["I think this response is good.", "helpfulness:high", ""])
def test_nim_reply_of_the_wrong_shape_fails_the_request_with_the_raw_text(content):
    with FaultServer(models=["rm"], responder=lambda body, i: content) as srv:
        engine, waits = engine_for(NimRewardEngine, srv)
        bad, = engine.score([pair("x")])
    assert not bad.ok and not bad.scores
    assert "no attribute scores" in bad.error and repr(content)[1:-1] in bad.error
    assert srv.stats()["chat_requests"] == 1 and waits == []  # a shape error is not retried


def test_nim_attributes_param_keeps_those_and_fails_a_reply_missing_one():
    with FaultServer(models=["rm"], responder=attribute_text) as srv:
        engine, _ = engine_for(NimRewardEngine, srv, attributes=["correctness", "helpfulness"])
        [result] = engine.score([pair("Some answer.")])
        strict, _ = engine_for(NimRewardEngine, srv, attributes=["helpfulness", "safety"])
        [missing] = strict.score([pair("Some answer.")])
    assert list(result.scores) == ["correctness", "helpfulness"]
    assert not missing.ok and "lacks attribute(s) ['safety']" in missing.error


@pytest.mark.parametrize("fault", ["500", "503", "reset", Fault.rate_limit(retry_after=2)])
def test_nim_transient_failures_are_retried(fault):
    with FaultServer(models=["rm"], responder=attribute_text, script={"flaky": [fault, "502"]}) as srv:
        engine, waits = engine_for(NimRewardEngine, srv)
        [result] = engine.score([pair("flaky answer", prompt="flaky")])
    assert result.ok and result.scores["helpfulness"] == pytest.approx(len("flaky answer"))
    assert srv.stats()["chat_requests"] == 3 and len(waits) == 2 and engine.retries == 2
    if isinstance(fault, Fault):
        assert waits[0] == 2.0  # Retry-After honoured


def test_nim_server_down_fails_each_request_after_its_attempts():
    with FaultServer(models=["rm"], responder=attribute_text, script=["500"] * 10) as srv:
        engine, waits = engine_for(NimRewardEngine, srv, max_attempts=3)
        results = engine.score([pair("a"), pair("b")])
    assert all(not r.ok and "HTTP 500" in r.error and "after 3 attempts" in r.error for r in results)
    assert engine.failures == 2


def test_nim_other_4xx_fail_at_once():
    with FaultServer(models=["rm"], responder=attribute_text, script={CONTEXT_MARKER: []}) as srv:
        engine, waits = engine_for(NimRewardEngine, srv)
        ok, too_long = engine.score([pair("fine"), pair("long", prompt=f"{CONTEXT_MARKER} text")])
    assert ok.ok and not too_long.ok and "HTTP 400" in too_long.error and "after 1 attempt" in too_long.error
    assert waits == []


def test_the_api_key_is_sent_but_never_logged_nor_in_identity_or_errors(monkeypatch, caplog):
    key = "nvapi-SECRET-0123456789"
    monkeypatch.setenv("NIM_TEST_KEY", key)
    script = {"retry": ["500"], "echo": [Fault.error(400, f"invalid request for key {key}")]}
    with FaultServer(models=["rm"], responder=attribute_text, api_key=key, script=script) as srv:
        engine, _ = engine_for(NimRewardEngine, srv, api_key_env="NIM_TEST_KEY")
        with caplog.at_level(logging.DEBUG, logger="curate"):
            engine.start()
            retried, echoed = engine.score([pair("a", prompt="retry"), pair("b", prompt="echo")])
    assert set(srv.auth_headers) == {f"Bearer {key}"}
    assert retried.ok and not echoed.ok and "***" in echoed.error
    assert "retry 1/4" in caplog.text  # the retry was logged ...
    assert key not in caplog.text and key not in echoed.error and key not in repr(engine.identity())
    assert engine.identity() == {"backend": "nim-reward", "model": "rm", "base_url": srv.base_url}


def test_a_wrong_key_is_a_start_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("NIM_TEST_KEY", "wrong-key-value")
    with FaultServer(models=["rm"], api_key="right-key-value") as srv:
        engine, _ = engine_for(NimRewardEngine, srv, api_key_env="NIM_TEST_KEY")
        with pytest.raises(EngineError, match="NIM_TEST_KEY") as err:
            engine.start()
    assert "wrong-key-value" not in str(err.value) and "engine nim-reward" in str(err.value)


def test_start_fails_for_an_unreachable_server_and_an_unserved_model():
    port = free_port()
    engine = NimRewardEngine(model="rm", base_url=f"http://127.0.0.1:{port}/v1", api_key_env=None)
    with pytest.raises(EngineError, match=f"engine nim-reward .*127.0.0.1:{port}"):
        engine.start()
    with FaultServer(models=["other-rm"]) as srv:
        with pytest.raises(EngineError, match="'rm' is not served .* other-rm"):
            engine_for(NimRewardEngine, srv)[0].start()


def test_completed_pairs_are_cached_and_not_sent_twice(tmp_path):
    with FaultServer(models=["rm"], responder=attribute_text) as srv:
        inner, _ = engine_for(NimRewardEngine, srv)
        cached = CachedEngine(inner, tmp_path / "requests.sqlite")
        first = cached.score([pair("a"), pair("bb")])
        again = cached.score([pair("a", id="x"), pair("bb", id="y"), pair("ccc")])
        cached.close_cache()
    assert srv.stats()["chat_requests"] == 3
    assert [r.cached for r in again] == [True, True, False]
    assert again[0].scores == first[0].scores and again[1].scores == first[1].scores


# --- vllm-reward ------------------------------------------------------------------------------

def fixed_scorer(values):
    return lambda route, body: values


@pytest.mark.parametrize("endpoint", ["classify", "pooling"])
def test_vllm_classify_and_pooling_send_the_chat_pair_and_read_the_outputs(endpoint):
    with FaultServer(models=["rm"], scorer=lambda route, body: [len(body["messages"][-1]["content"]), -1.5]) as srv:
        engine, _ = engine_for(VllmRewardEngine, srv, endpoint=endpoint, attributes=["helpfulness", "safety"])
        engine.start()
        [result] = engine.score([pair("four")])
    assert result.scores == {"helpfulness": 4.0, "safety": -1.5}
    assert srv.bodies == [{"model": "rm", "use_activation": False, "messages": [
        {"role": "user", "content": "Is the sky blue?"}, {"role": "assistant", "content": "four"}]}]
    assert srv.stats()["pooling_requests"] == 1 and srv.stats()["model_requests"] == 1


def test_vllm_score_sends_query_and_document():
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Name a colour."}]
    with FaultServer(models=["rm"], scorer=fixed_scorer(0.25)) as srv:
        engine, _ = engine_for(VllmRewardEngine, srv, endpoint="score", activation=True)
        single, multi = engine.score([pair("Blue."), ScoreRequest("m", conversation, "Red.")])
    assert single.scores == {"reward": 0.25} and multi.scores == {"reward": 0.25}
    assert srv.bodies[0] == {"model": "rm", "use_activation": True, "queries": "Is the sky blue?", "documents": "Blue."}
    assert srv.bodies[1]["queries"] == "user: Hi\nassistant: Hello!\nuser: Name a colour."


def test_vllm_token_level_pooling_output_is_read_at_the_last_token():
    per_token = {"object": "list", "model": "rm",
                 "data": [{"index": 0, "object": "pooling", "data": [[0.1], [0.2], [0.7]]}]}
    with FaultServer(models=["rm"], scorer=lambda route, body: per_token) as srv:
        engine, _ = engine_for(VllmRewardEngine, srv, endpoint="pooling")
        [result] = engine.score([pair("x")])
    assert result.scores == {"reward": 0.7}


def test_vllm_several_outputs_need_attribute_names():
    with FaultServer(models=["rm"], scorer=fixed_scorer([1.0, 2.0, 3.0])) as srv:
        engine, _ = engine_for(VllmRewardEngine, srv)
        [unnamed] = engine.score([pair("x")])
        wrong, _ = engine_for(VllmRewardEngine, srv, attributes=["a", "b"])
        [miscounted] = wrong.score([pair("x")])
    assert not unnamed.ok and "returned 3 scores; name them with `attributes" in unnamed.error
    assert not miscounted.ok and "returned 3 scores but `attributes` names 2" in miscounted.error


@pytest.mark.parametrize("reply", [{"data": []}, {"data": [{"index": 0, "probs": ["high"]}]}, {"result": 1}])
def test_vllm_reply_of_the_wrong_shape_fails_the_request(reply):
    with FaultServer(models=["rm"], scorer=lambda route, body: reply) as srv:
        engine, waits = engine_for(VllmRewardEngine, srv)
        [result] = engine.score([pair("x")])
    assert not result.ok and "unexpected reply from vllm-reward" in result.error and waits == []


def test_vllm_a_rejected_request_fails_at_once_with_the_server_reason():
    def scorer(route, body):
        raise ValueError("Chat template error: roles must alternate")

    with FaultServer(models=["rm"], scorer=scorer) as srv:
        engine, waits = engine_for(VllmRewardEngine, srv)
        [result] = engine.score([pair("x")])
    assert not result.ok and result.error == "HTTP 400: Chat template error: roles must alternate (after 1 attempt)"
    assert waits == [] and srv.stats()["pooling_requests"] == 1


def test_vllm_too_long_fails_alone_and_5xx_is_retried():
    script = {"flaky": ["500"]}
    with FaultServer(models=["rm"], scorer=fixed_scorer([0.5]), script=script) as srv:
        engine, waits = engine_for(VllmRewardEngine, srv)
        ok, long, flaky = engine.score([pair("a"), pair("b", prompt=CONTEXT_MARKER), pair("c", prompt="flaky")])
    assert ok.scores == {"reward": 0.5} and flaky.scores == {"reward": 0.5} and len(waits) == 1
    assert not long.ok and "maximum context length" in long.error and "after 1 attempt" in long.error


def test_vllm_params():
    engine = VllmRewardEngine(model="rm", base_url="http://10.0.0.5:8000/v1/")
    assert engine.params.base_url == "http://10.0.0.5:8000" and engine.params.api_key_env == "VLLM_API_KEY"
    assert engine.identity() == {"backend": "vllm-reward", "model": "rm", "base_url": "http://10.0.0.5:8000",
                                 "endpoint": "classify", "activation": False}
    assert VllmRewardEngine(model="rm", endpoint="score").identity() != VllmRewardEngine(model="rm").identity()
    for bad in ({"base_url": "ftp://host"}, {"api_key_env": "sk-live-abcdef"}, {"endpoint": "rerank"},
                {"backoff_base": 10, "backoff_max": 1}):
        with pytest.raises(ValueError):
            VllmRewardEngine(model="rm", **bad)


# --- a real vllm serve of the tiny reward model -------------------------------------------------

REPO = Path(__file__).resolve().parents[3]
VLLM_VENV = Path(os.environ.get("CURATE_VLLM_VENV", REPO / ".venvs" / "vllm"))


@pytest.fixture(scope="module")
def vllm_reward_server(tmp_path_factory):
    """``vllm serve`` (CPU, pooling runner) of a tiny one-output reward model; yields its root URL
    and the model folder."""
    exe = VLLM_VENV / "bin" / "vllm"
    if not exe.exists():
        pytest.skip(f"the vLLM CPU virtualenv is missing ({exe}): run scripts/setup-vllm-venv.sh")
    pytest.importorskip("transformers")
    from curate.testing.tiny_model import build_tiny_reward_model

    model = build_tiny_reward_model(tmp_path_factory.mktemp("models") / "tiny-rm")
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "vllm-serve.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    cmd = [str(exe), "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name",
           "tiny-rm", "--max-model-len", "256", "--enforce-eager"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + float(os.environ.get("CURATE_VLLM_STARTUP_TIMEOUT", 600))
        while True:
            try:
                NimRewardEngine(model="tiny-rm", base_url=f"{root}/v1", api_key_env=None, max_attempts=1).start()
                break
            except EngineError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        yield root, model
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the session this fixture started
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.slow
@pytest.mark.vllm
def test_real_vllm_serve_scores_like_transformers(vllm_reward_server):
    from curate_transformers import TransformersRewardEngine

    root, model = vllm_reward_server
    requests = [pair("Flour, water and salt.", prompt="What is bread made of?"),
                pair("I would rather not say. " * 3, prompt="What is bread made of?"),
                pair("word " * 300, prompt="Too long for 256 tokens")]
    local = TransformersRewardEngine(model=str(model)).score(requests[:2])
    for endpoint in ("classify", "pooling"):
        engine = VllmRewardEngine(model="tiny-rm", base_url=root, api_key_env=None, endpoint=endpoint,
                                  max_attempts=2, backoff_base=0.1)
        engine.start()
        a, b, too_long = engine.score(requests)
        # vLLM runs the bfloat16 weights in bfloat16; transformers here in float32.
        assert a.scores["reward"] == pytest.approx(local[0].scores["reward"], abs=0.3)
        assert b.scores["reward"] == pytest.approx(local[1].scores["reward"], abs=0.3)
        assert not too_long.ok and "HTTP 400" in too_long.error and "maximum context length" in too_long.error
    score = VllmRewardEngine(model="tiny-rm", base_url=root, api_key_env=None, endpoint="score")
    [scored] = score.score(requests[:1])
    assert scored.ok and list(scored.scores) == ["reward"]
    with pytest.raises(EngineError, match="'no-such-rm' is not served"):
        VllmRewardEngine(model="no-such-rm", base_url=root, api_key_env=None).start()
