"""The openai engine with ``batch: true`` against ``curate.testing.BatchServer``: every injected
fault ends with every row answered exactly once and no batch submitted twice (counted on the
server); limits and the in-progress quota; cached requests are never batched; one line switches a
stage between live and batch and the answers are reused both ways."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import curate
from curate.files import read_json
from curate.testing import BatchServer
from curate.testing.fault_server import CONTEXT_MARKER

ROWS = 10


def write_prompts(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def recipe_text(base_url: str, **engine) -> str:
    params = {"use": "openai", "model": "echo", "base_url": base_url, "api_key_env": None, "batch": True,
              "batch_poll_interval": 0.01, "batch_poll_max": 0.05, **engine}
    return textwrap.dedent(f"""\
        name: openai-batch-test
        engines:
          default: {json.dumps(params)}
        stages:
          - use: read.jsonl
            with: {{path: prompts.jsonl}}
          - id: answers
            use: generate.responses
            with: {{engines: [default], max_tokens: 64, temperature: 0.5}}
          - use: write.jsonl
            with: {{path: out.jsonl, format: raw}}
        """)


def setup_recipe(tmp_path: Path, base_url: str, prompts: list[str], **engine) -> Path:
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text(base_url, **engine))
    return recipe


def prompts(n: int = ROWS) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


def assert_each_row_answered_once(srv: BatchServer, result, n: int = ROWS) -> None:
    answered = srv.answered()
    assert len(answered) == n and set(answered.values()) == {1}, answered
    out = result.outputs["write.jsonl"]
    assert sorted(out["response"].to_list()) == sorted(prompts(n))


# Each fault, the batches the server should see: the first whole, then only what it left unanswered.
FAULTS = {
    "expire": (dict(faults=["expire"]), [ROWS, ROWS // 2]),
    "cancel": (dict(faults=["cancel"]), [ROWS, ROWS // 2]),
    "fail_some": (dict(faults=["fail_some"]), [ROWS, ROWS // 2]),
    "fail_batch": (dict(faults=["fail_batch"]), [ROWS, ROWS]),
    "upload 500": (dict(upload_faults=["500", "503"]), [ROWS]),
    "poll 5xx": (dict(poll_faults=["503", "500", "502"]), [ROWS]),
    "create lost": (dict(create_faults=["lost"]), [ROWS]),
    "create 500": (dict(create_faults=["500"]), [ROWS]),
    "download 500": (dict(download_faults=["500"]), [ROWS]),
    "slow": (dict(polls_to_complete=6), [ROWS]),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_ends_with_each_row_answered_once_and_no_batch_twice(fault, tmp_path, openai_registered):
    server_args, sizes = FAULTS[fault]
    with BatchServer(**server_args) as srv:
        recipe = setup_recipe(tmp_path, srv.base_url, prompts())
        result = curate.run(recipe, run_dir=tmp_path / "run")
        stats = srv.stats()
    assert_each_row_answered_once(srv, result)
    assert stats["batch_sizes"] == sizes
    assert stats["files_uploaded"] == stats["batches_created"] == len(sizes)  # nothing uploaded or created twice
    assert stats["live_requests"] == 0
    engines = result.stats["answers"].engines["default"]
    assert engines["batch_requests"] == ROWS and engines["requests_sent"] == ROWS
    if fault == "create lost":
        assert stats["lists"] >= 1  # it looked the batch up instead of creating a second one


def test_a_per_request_error_removes_the_row_with_the_providers_message(tmp_path, openai_registered):
    rows = prompts(4) + [f"far too long {CONTEXT_MARKER}"]
    with BatchServer() as srv:
        result = curate.run(setup_recipe(tmp_path, srv.base_url, rows), run_dir=tmp_path / "run")
        stats = srv.stats()
    assert stats["batch_sizes"] == [5]  # a 400 is not resubmitted
    assert result.outputs["write.jsonl"].height == 4
    removed = result.rundir.removed("answers")
    assert removed["prompt"].to_list() == [rows[-1]]
    assert "HTTP 400" in removed["reason"][0] and "maximum context length" in removed["reason"][0]


def test_limits_split_a_stage_into_several_batches(tmp_path, openai_registered):
    with BatchServer() as srv:
        result = curate.run(setup_recipe(tmp_path, srv.base_url, prompts(), batch_max_requests=4),
                            run_dir=tmp_path / "run")
        stats = srv.stats()
    assert stats["batch_sizes"] == [4, 4, 2]
    assert_each_row_answered_once(srv, result)


def test_the_in_progress_quota_is_respected(tmp_path, openai_registered):
    with BatchServer(polls_to_complete=3) as srv:
        result = curate.run(setup_recipe(tmp_path, srv.base_url, prompts(), batch_max_requests=2,
                                         batch_max_in_progress=2), run_dir=tmp_path / "run")
        stats = srv.stats()
    assert stats["batch_sizes"] == [2, 2, 2, 2, 2] and stats["max_running"] == 2
    assert_each_row_answered_once(srv, result)


def test_batch_file_lines_carry_the_live_request_body(tmp_path):
    from curate_openai import OpenAIEngine

    schema = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "string"}},
              "required": ["answer"]}
    with BatchServer() as srv:
        engine = OpenAIEngine(model="echo", base_url=srv.base_url, api_key_env=None, batch=True,
                              batch_poll_interval=0.01, max_tokens_field="max_completion_tokens",
                              extra_body={"service_tier": "default"})
        engine.bind(curate.EngineRun("default", tmp_path / "state", True))
        sampling = curate.SamplingParams(max_tokens=32, temperature=0, seed=7)
        [result] = engine.generate([curate.ChatRequest("q", [{"role": "user", "content": "hi"}], sampling, schema)])
        [(custom_id, body)] = srv.store.batches["batch_0001"].requests
    assert custom_id == curate.ChatRequest("q", [{"role": "user", "content": "hi"}], sampling,
                                           schema).fingerprint(engine.identity())
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "Answer", "schema": schema, "strict": True}}
    assert body["max_completion_tokens"] == 32 and body["seed"] == 7 and body["service_tier"] == "default"
    assert result.ok and result.batch and set(json.loads(result.completions[0].text)) == {"answer"}


def test_batch_is_not_part_of_the_identity():
    from curate_openai import OpenAIEngine

    live = OpenAIEngine(model="m", base_url="http://127.0.0.1:1/v1")
    batch = OpenAIEngine(model="m", base_url="http://127.0.0.1:1/v1", batch=True, batch_max_requests=10)
    assert live.identity() == batch.identity()


def test_one_line_switches_between_live_and_batch_and_answers_are_reused(tmp_path, openai_registered):
    run_dir = tmp_path / "run"
    with BatchServer() as srv:
        recipe = setup_recipe(tmp_path, srv.base_url, prompts(3), batch=False)
        curate.run(recipe, run_dir=run_dir)
        assert srv.stats()["live_requests"] == 3 and srv.stats()["batches_created"] == 0

        write_prompts(tmp_path / "prompts.jsonl", prompts(4))
        result = curate.run(recipe, run_dir=run_dir, overrides=["engines.default.batch=true"])
        assert srv.stats()["batch_sizes"] == [1]  # only the new prompt went into a batch
        assert result.stats["answers"].counters["requests_cached"] == 3

        write_prompts(tmp_path / "prompts.jsonl", prompts(5))
        result = curate.run(recipe, run_dir=run_dir)  # back to live
        stats = srv.stats()
    assert stats["live_requests"] == 4 and stats["batch_sizes"] == [1]
    assert result.stats["answers"].counters["requests_cached"] == 4
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == sorted(prompts(5))


def test_batch_state_is_in_the_run_directory_and_holds_no_key(tmp_path, openai_registered, monkeypatch):
    key = "sk-batch-test-7d1e0c5a-never-write-me"
    monkeypatch.setenv("CURATE_TEST_BATCH_KEY", key)
    with BatchServer(api_key=key) as srv:
        recipe = setup_recipe(tmp_path, srv.base_url, prompts(3), api_key_env="CURATE_TEST_BATCH_KEY")
        curate.run(recipe, run_dir=tmp_path / "run")
    state = tmp_path / "run" / "engines" / "default"
    record = read_json(state / "batches" / "00001.json")
    assert record["id"] == "batch_0001" and record["state"] == "completed"
    assert record["provider"]["input_file_id"] and record["provider"]["output_file_id"]
    status = read_json(state / "status.json")
    assert status["summary"] == "1 batch: 1 completed; 3/3 requests done"
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_a_refused_key_fails_the_stage_with_the_variable_named(tmp_path, openai_registered, monkeypatch):
    monkeypatch.setenv("CURATE_TEST_BATCH_KEY", "wrong")
    with BatchServer(api_key="right") as srv:
        engine = {"api_key_env": "CURATE_TEST_BATCH_KEY"}
        recipe = setup_recipe(tmp_path, srv.base_url, prompts(2), **engine)
        with pytest.raises(curate.CurateError, match="CURATE_TEST_BATCH_KEY"):
            curate.run(recipe, run_dir=tmp_path / "run")
