"""The openai engine against a real ``vllm serve`` (CPU) of the tiny test model.

Needs the vLLM CPU virtualenv (``scripts/setup-vllm-venv.sh``); skipped without it. The server
starts once per session (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import textwrap

import polars as pl
import pytest

import curate
from curate.engine import ChatRequest, EngineError, SamplingParams
from curate_openai import OpenAIEngine

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def recipe(tmp_path, base_url: str, model: str, prompts: list[str]):
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    engine = {"use": "openai", "model": model, "base_url": base_url, "api_key_env": None, "max_in_flight": 8,
              "timeout": 120, "max_attempts": 2}
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: vllm-serve-test
        engines:
          default: {json.dumps(engine)}
        stages:
          - use: read.jsonl
            with: {{path: prompts.jsonl}}
          - use: generate.responses
            with: {{engines: [default], n: 2, max_tokens: 8, temperature: 0.8, seed: 1}}
          - use: write.jsonl
            with: {{path: sft.jsonl, format: sft}}
        """))
    return path


def test_recipe_with_a_too_long_prompt_failing_only_its_row(vllm_server, tmp_path, openai_registered):
    too_long = "the library has tall windows and long tables " * 120  # > 512 tokens
    prompts = ["What is the capital of France?", too_long, "Write a short recipe for soup.", "Say hello."]
    result = curate.run(recipe(tmp_path, vllm_server.base_url, vllm_server.model, prompts), run_dir=tmp_path / "run")

    out = result.outputs["write.jsonl"]
    assert out.height == 3 * 2  # three prompts, n=2 responses each
    lines = [json.loads(line) for line in (tmp_path / "run" / "sft.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert {m["messages"][0]["content"] for m in lines} == {prompts[0], prompts[2], prompts[3]}
    assert all(m["messages"][-1]["role"] == "assistant" for m in lines)
    assert {m["provenance"]["generation"]["model"] for m in lines} == {vllm_server.model}
    assert {m["finish_reason"] for m in lines} <= {"stop", "length"}

    removed = pl.read_parquet(next((tmp_path / "run" / "stages").glob("*generate*/removed.parquet")))
    assert removed["prompt"].to_list() == [too_long]
    reason = removed["reason"][0]
    assert "HTTP 400" in reason and "maximum context length" in reason and "after 1 attempt" in reason
    assert result.stats["generate.responses"].counters.get("requests_failed") == 1


def test_unknown_model_is_a_clear_start_error(vllm_server, tmp_path, openai_registered):
    path = recipe(tmp_path, vllm_server.base_url, "no-such-model", ["hi"])
    with pytest.raises(EngineError) as err:
        curate.run(path, run_dir=tmp_path / "run")
    assert "'no-such-model'" in str(err.value) and vllm_server.model in str(err.value)


def test_sampling_json_schema_and_logprobs(vllm_server):
    engine = OpenAIEngine(model=vllm_server.model, base_url=vllm_server.base_url, api_key_env=None)
    engine.start()
    greedy = SamplingParams(temperature=0, max_tokens=6, logprobs=2)
    schema = {"title": "Verdict", "type": "object", "properties": {"verdict": {"enum": ["yes", "no"]}},
              "required": ["verdict"], "additionalProperties": False}
    messages = [{"role": "user", "content": "Is the sky blue?"}]
    a, b, structured = engine.generate([
        ChatRequest("a", messages, greedy), ChatRequest("b", messages, greedy),
        ChatRequest("s", messages, SamplingParams(temperature=0, max_tokens=40), json_schema=schema),
    ])
    assert a.ok and b.ok and a.completions[0].text == b.completions[0].text  # greedy is deterministic
    assert a.prompt_tokens > 0 and 0 < a.completion_tokens <= 6
    assert len(a.completions[0].logprobs) == a.completion_tokens
    assert all(len(t["top_logprobs"]) == 2 for t in a.completions[0].logprobs)
    assert structured.ok, structured.error
    text = structured.completions[0].text
    assert text.lstrip().startswith('{"verdict"') or text.lstrip().startswith('{ "verdict"'), text
    if structured.completions[0].finish_reason == "stop":
        assert json.loads(text)["verdict"] in ("yes", "no")
