"""The anthropic engine through real recipes, live and with Message Batches: key hygiene, one line
switching a stage to batches, batch faults ending with every row answered exactly once and no batch
submitted twice, resume after the process is killed between submit and download, --no-wait."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing import AnthropicServer
from curate.testing.fault_server import CONTEXT_MARKER, Fault

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "curate-anthropic"
KEY_ENV = "CURATE_TEST_ANTHROPIC_KEY"
KEY = "sk-ant-test-8c1d0e44b7a94f2b-never-log-me"
POLL = {"batch_poll_interval": 0.05, "batch_poll_max": 0.2}


def write_prompts(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def write_recipe(folder: Path, base_url: str, n: int = 1, **engine) -> Path:
    params = {"use": "anthropic", "model": "claude-test", "base_url": base_url, "api_key_env": KEY_ENV,
              "backoff_base": 0.01, "backoff_max": 0.05, **POLL, **engine}
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: anthropic-test
        engines:
          default: {json.dumps(params)}
        stages:
          - use: read.jsonl
            with: {{path: prompts.jsonl}}
          - use: generate.responses
            with: {{engines: [default], max_tokens: 64, temperature: 0.5, n: {n}}}
          - use: write.jsonl
            with: {{path: out.jsonl, format: raw}}
        """))
    return path


def removed_rows(run_dir: Path) -> pl.DataFrame | None:
    path = next((run_dir / "stages").glob("*generate*/removed.parquet"), None)
    return pl.read_parquet(path) if path else None


def assert_no_key_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("batch", [False, True])
def test_key_is_sent_but_never_in_identity_logs_or_run_dir(tmp_path, monkeypatch, caplog, anthropic_registered,
                                                           batch):
    monkeypatch.setenv(KEY_ENV, KEY)
    write_prompts(tmp_path / "prompts.jsonl", ["hello there", "echo my key", "flaky one"])
    # The server even puts the key in an error message; it must be redacted everywhere.
    script = {"echo my key": [Fault.error(400, f"invalid key {KEY}")] * 3, "flaky": ["529", "429"]}
    with AnthropicServer(script=script, api_key=KEY, poll_faults=["500"]) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, batch=batch)
        with caplog.at_level(logging.DEBUG):
            result = curate.run(recipe, run_dir=tmp_path / "run")
        keys = srv.api_keys
    assert keys and all(k == KEY for k in keys)  # the key was used...
    assert KEY not in caplog.text  # ...but never logged
    assert_no_key_in(tmp_path / "run")  # nor written to any run file (batch records included)
    assert KEY not in json.dumps(result.stats["generate.responses"].engines)
    if not batch:  # live: the error that quoted the key is the row's reason, redacted
        removed = removed_rows(tmp_path / "run")
        assert removed.height == 1 and "invalid key ***" in removed["reason"][0]
        assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == ["flaky one", "hello there"]
    else:
        assert (tmp_path / "run" / "engines" / "default" / "batches").is_dir()
        assert result.outputs["write.jsonl"].height == 3


def test_a_stage_switches_from_live_to_batch_by_one_line(tmp_path, monkeypatch, anthropic_registered):
    monkeypatch.delenv(KEY_ENV, raising=False)
    first = [f"old prompt {i}" for i in range(4)]
    new = [f"new prompt {i}" for i in range(3)]
    write_prompts(tmp_path / "prompts.jsonl", first)
    with AnthropicServer() as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        live = curate.run(recipe, run_dir=tmp_path / "run")
        assert srv.stats()["chat_requests"] == 4 and srv.batch_stats()["batches_created"] == 0
        # The one line, plus more prompts: cached answers stay, only the new prompts go in a batch.
        recipe.write_text(recipe.read_text().replace('"batch_poll_interval"', '"batch": true, "batch_poll_interval"'))
        write_prompts(tmp_path / "prompts.jsonl", first + new)
        batched = curate.run(recipe, run_dir=tmp_path / "run")
        stats, answered = srv.batch_stats(), srv.answered()
        live_requests = srv.stats()["chat_requests"]
    assert live.outputs["write.jsonl"].height == 4
    assert live_requests == 4  # nothing more was sent live
    assert stats["batches_created"] == 1 and stats["batch_sizes"] == [3] and len(answered) == 3
    out = batched.outputs["write.jsonl"]
    assert sorted(out["response"].to_list()) == sorted(first + new)
    usage = batched.stats["generate.responses"].engines["default"]
    assert usage["requests_cached"] == 4 and usage["requests_sent"] == 3
    # Only what this run paid for: 3 new prompts of 3 words (the server counts words), echoed.
    assert usage["prompt_tokens"] == 9 and usage["completion_tokens"] == 9 and usage["batch_requests"] == 3


SCENARIOS = {
    # name: (the batch faults of curate.testing.BatchServer, batches the server should have created)
    "expired batch": ({"faults": ["expire"]}, 2),
    "partly failed batch": ({"faults": ["fail_some"]}, 2),
    "failed batch": ({"faults": ["fail_batch"]}, 2),
    "cancelled batch": ({"faults": ["cancel"]}, 2),
    "poll 5xx and 429": ({"poll_faults": ["500", "429", "503"]}, 1),
    "create 5xx": ({"create_faults": ["500", "529"]}, 1),
    "create answer lost": ({"create_faults": ["lost"]}, 1),
    "results download 5xx": ({"download_faults": ["502", "500"]}, 1),
    "slow batch": ({"polls_to_complete": 4}, 1),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("n", [1, 2])
def test_batch_faults_end_with_every_row_answered_exactly_once(tmp_path, monkeypatch, anthropic_registered,
                                                               scenario, n):
    monkeypatch.delenv(KEY_ENV, raising=False)
    faults, created = SCENARIOS[scenario]
    prompts = [f"prompt number {i}" for i in range(6)]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    with AnthropicServer(**faults) as srv:
        result = curate.run(write_recipe(tmp_path, srv.base_url, n=n, batch=True), run_dir=tmp_path / "run")
        stats, answered = srv.batch_stats(), srv.answered()
    out = result.outputs["write.jsonl"]
    assert sorted(out["response"].to_list()) == sorted(p for p in prompts for _ in range(n))
    assert out.height == len(set(zip(out["prompt_id"], out["response_index"])))  # no row twice
    assert stats["batches_created"] == created  # never submitted twice
    injected = sum(len(v) for k, v in faults.items() if k.endswith("_faults")) + len(faults.get("faults", []))
    assert sum(stats["faults"].values()) == injected  # every scripted fault happened
    assert len(answered) == len(prompts) * n and set(answered.values()) == {1}  # each sample paid once
    assert stats["downloads"] == created
    usage = result.stats["generate.responses"].engines["default"]
    assert usage["requests_sent"] == len(prompts) and usage.get("batch_requests") == len(prompts)
    status = json.loads((tmp_path / "run" / "engines" / "default" / "status.json").read_text())
    assert len(status["batches"]) == created and {b["state"] for b in status["batches"]} == {"ended"}


@pytest.mark.parametrize("scenario", ["expired batch", "create answer lost"])
def test_the_shared_batch_server_serves_anthropic_too(tmp_path, monkeypatch, anthropic_registered, scenario):
    """``BatchServer(providers=("anthropic",))``: the same routes, store and faults as AnthropicServer."""
    from curate.testing.batch_server import BatchServer

    monkeypatch.setenv(KEY_ENV, KEY)
    faults, created = SCENARIOS[scenario]
    prompts = [f"prompt number {i}" for i in range(6)] + [f"{CONTEXT_MARKER} too long"]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    with BatchServer(providers=("anthropic",), models=("claude-test",), **faults) as srv:
        result = curate.run(write_recipe(tmp_path, srv.base_url, batch=True), run_dir=tmp_path / "run")
        stats, answered, keys = srv.stats(), srv.answered(), srv.anthropic_api_keys
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == sorted(prompts[:-1])
    assert stats["batches_created"] == created and set(answered.values()) == {1} and len(answered) == 6
    removed = removed_rows(tmp_path / "run")
    assert removed["prompt"].to_list() == [prompts[-1]] and "prompt is too long" in removed["reason"][0]
    assert keys and set(keys) == {KEY}
    assert_no_key_in(tmp_path / "run")


def test_per_request_errors_remove_the_row_with_the_providers_message(tmp_path, monkeypatch, anthropic_registered):
    monkeypatch.delenv(KEY_ENV, raising=False)
    prompts = ["fine one", f"{CONTEXT_MARKER} a very long document", "fine two"]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    with AnthropicServer() as srv:
        result = curate.run(write_recipe(tmp_path, srv.base_url, batch=True), run_dir=tmp_path / "run")
        stats = srv.batch_stats()
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == ["fine one", "fine two"]
    removed = removed_rows(tmp_path / "run")
    assert removed["prompt"].to_list() == [prompts[1]]
    assert "invalid_request_error: prompt is too long" in removed["reason"][0]
    assert stats["batches_created"] == 1  # not retryable: not resubmitted


RUNNER = textwrap.dedent("""\
    import sys
    from contextlib import nullcontext
    sys.path.insert(0, sys.argv[3])
    import curate, curate_anthropic
    from curate.plugins import registry, temporary_plugin
    missing = registry().find("anthropic", ("engine",)) is None
    with temporary_plugin(curate_anthropic, "anthropic-under-test") if missing else nullcontext():
        curate.run(sys.argv[1], run_dir=sys.argv[2])
    """)


@pytest.mark.slow
def test_resume_after_the_process_is_killed_between_submit_and_download(tmp_path, monkeypatch,
                                                                        anthropic_registered):
    monkeypatch.delenv(KEY_ENV, raising=False)
    prompts = [f"prompt number {i}" for i in range(20)]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    run_dir = tmp_path / "run"
    with AnthropicServer(hold=True) as srv:  # no batch finishes until released
        recipe = write_recipe(tmp_path, srv.base_url, batch=True, batch_max_requests=8)
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(recipe), str(run_dir), str(PLUGIN_DIR)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while srv.batch_stats()["batches_created"] < 3 or srv.batch_stats()["polls"] < 3:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the run did not submit its batches"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)  # submitted, polled, nothing downloaded: no chance to clean up
        finally:
            proc.kill()
            proc.wait()
        assert srv.batch_stats()["downloads"] == 0
        records = sorted((run_dir / "engines" / "default" / "batches").glob("*.json"))
        assert [json.loads(p.read_text())["id"] for p in records] == ["batch_0001", "batch_0002", "batch_0003"]

        srv.hold = False  # the provider finishes them while nobody is looking
        result = curate.run(recipe, run_dir=run_dir)
        stats, answered = srv.batch_stats(), srv.answered()
    assert stats["batches_created"] == 3  # resumed polling; nothing submitted again
    assert stats["downloads"] == 3 and len(answered) == 20 and set(answered.values()) == {1}
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == sorted(prompts)


def test_no_wait_submits_and_returns_then_a_rerun_collects(tmp_path, monkeypatch, anthropic_registered):
    monkeypatch.delenv(KEY_ENV, raising=False)
    prompts = [f"prompt number {i}" for i in range(5)]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    with AnthropicServer(hold=True) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, batch=True)
        with pytest.raises(curate.BatchesPending) as info:
            curate.run(recipe, run_dir=tmp_path / "run", wait=False)
        assert info.value.batches == ["batch_0001"]
        with pytest.raises(curate.BatchesPending):  # still running: polled, not resubmitted
            curate.run(recipe, run_dir=tmp_path / "run", wait=False)
        srv.hold = False  # the provider finishes it
        result = curate.run(recipe, run_dir=tmp_path / "run", wait=False)
        stats = srv.batch_stats()
    assert stats["batches_created"] == 1 and stats["downloads"] == 1
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == sorted(prompts)


def test_structured_output_through_batches_uses_the_forced_tool(tmp_path):
    from pydantic import BaseModel

    from curate_anthropic import AnthropicEngine

    class Verdict(BaseModel):
        winner: str
        confidence: int

    with AnthropicServer() as srv:
        engine = AnthropicEngine(model="claude-test", base_url=srv.base_url, api_key_env=None, batch=True, **POLL)
        engine.bind(curate.EngineRun("claude", tmp_path / "state"))
        answers = curate.generate_structured(engine, [curate.ChatRequest("a", [{"role": "user", "content": "who?"}]),
                                                      curate.ChatRequest("b", [{"role": "user", "content": "why?"}],
                                                                         curate.SamplingParams(n=2))], Verdict)
        stats = srv.batch_stats()
    assert [len(a) for a in answers] == [1, 2] and all(s.ok and s.value.winner for a in answers for s in a)
    assert stats["batches_created"] == 1 and stats["batch_sizes"] == [3]  # 1 + 2 sample lines
