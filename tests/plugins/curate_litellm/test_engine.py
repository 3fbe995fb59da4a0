"""The litellm engine for real: LiteLLM's ``openai/`` provider against curate.testing's
FaultServer (an OpenAI-compatible server with injected faults). Skipped when litellm is absent."""

from __future__ import annotations

import importlib.util
import json
import logging
import textwrap

import pytest

import curate
from curate import ChatRequest, SamplingParams
from curate.testing.fault_server import Fault, FaultServer

if importlib.util.find_spec("litellm") is None:
    pytest.skip("litellm is not installed (optional: pip install litellm, or pip install -e plugins/curate-litellm)",
                allow_module_level=True)

from curate_litellm import LiteLLMEngine  # noqa: E402

pytestmark = pytest.mark.slow  # importing litellm takes 10-40 s on a shared machine
KEY_ENV = "CURATE_TEST_LITELLM_KEY"
KEY = "sk-litellm-test-5d2e9b0c-never-log-me"


def make_engine(srv: FaultServer, **params):
    engine = LiteLLMEngine({"model": "openai/echo", "api_base": srv.base_url, "api_key_env": KEY_ENV, "timeout": 5,
                            "backoff_base": 0.5, "backoff_max": 4, **params})
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    engine._sleep = record
    return engine, waits


def req(text: str, **sampling) -> ChatRequest:
    return ChatRequest(text, [{"role": "user", "content": text}], SamplingParams(**sampling))


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def test_retries_follow_the_openai_engines_rules():
    script = {"busy": [Fault.rate_limit(retry_after=7), "500", "503"], "bad": ["400"], "down": ["500"] * 9}
    with FaultServer(script=script, api_key=KEY) as srv:
        engine, waits = make_engine(srv, max_attempts=4)
        engine.start()
        busy, bad, down = engine.generate([req("busy"), req("bad"), req("down")])
        bodies = srv.bodies
    assert busy.ok and busy.completions[0].text == "busy"
    assert waits.count(7.0) == 1  # the server's Retry-After, as given
    assert not bad.ok and "HTTP 400" in bad.error and "after 1 attempt" in bad.error
    assert not down.ok and "after 4 attempts" in down.error
    attempts = {t: sum(1 for b in bodies if b["messages"][-1]["content"] == t) for t in ("busy", "bad", "down")}
    assert attempts == {"busy": 4, "bad": 1, "down": 4}  # LiteLLM's own retries are off


def test_request_mapping_tokens_and_structured_output():
    schema = {"title": "Echo", "type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    with FaultServer(api_key=KEY) as srv:
        engine, _ = make_engine(srv, extra_params={"frequency_penalty": 0.5})
        plain, structured = engine.generate([
            ChatRequest("a", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two three"}],
                        SamplingParams(n=2, temperature=0.3, max_tokens=2, seed=4, stop=["END"])),
            ChatRequest("b", [{"role": "user", "content": "hi"}], json_schema=schema)])
        first, second = srv.bodies
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert first["n"] == 2 and first["temperature"] == 0.3 and first["max_tokens"] == 2 and first["seed"] == 4
    assert first["stop"] == ["END"] and first["frequency_penalty"] == 0.5
    assert [c.text for c in plain.completions] == ["one two", "one two"]
    assert [c.finish_reason for c in plain.completions] == ["length", "length"]
    assert plain.prompt_tokens == 5 and plain.completion_tokens == 4
    assert second["response_format"]["json_schema"]["schema"] == schema
    assert json.loads(structured.completions[0].text) == {"echo": "hi"}


def test_a_recipe_caches_answers_keeps_provenance_and_never_writes_the_key(tmp_path, caplog):
    import curate_litellm

    from ..conftest import registered

    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"prompt {i}"}) + "\n" for i in range(5)))
    with FaultServer(script={"prompt 3": [Fault.error(400, f"bad key {KEY}")]}, api_key=KEY) as srv, \
            registered(curate_litellm, "litellm", "engine", "curate-litellm"):
        params = {"use": "litellm", "model": "openai/echo", "api_base": srv.base_url, "api_key_env": KEY_ENV}
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(textwrap.dedent(f"""\
            name: litellm-test
            engines:
              default: {json.dumps(params)}
            stages:
              - use: read.jsonl
                with: {{path: prompts.jsonl}}
              - use: generate.responses
                with: {{engines: [default], max_tokens: 16}}
            """))
        with caplog.at_level(logging.DEBUG):
            first = curate.run(recipe, run_dir=tmp_path / "run")
        sent = srv.stats()["chat_requests"]
        (tmp_path / "prompts.jsonl").write_text((tmp_path / "prompts.jsonl").read_text() + '{"prompt": "new one"}\n')
        second = curate.run(recipe, run_dir=tmp_path / "run")
        sent_again = srv.stats()["chat_requests"] - sent
    assert first.stats["generate.responses"].rows_out == 4
    assert sent_again == 2  # the new prompt, and the failed one again (failures are not cached)
    assert second.stats["generate.responses"].counters["requests_cached"] == 4
    rows = curate.RunDir(tmp_path / "run").output("generate.responses")
    assert set(rows["generation"].struct.field("model").to_list()) == {"openai/echo"}  # provenance
    assert KEY not in caplog.text
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
