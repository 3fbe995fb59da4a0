"""The openai engine through real recipes: key hygiene, per-row failures, request-level resume after
SIGKILL, and Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing.fault_server import CONTEXT_MARKER, Fault, FaultServer


PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "curate-openai"
KEY_ENV = "CURATE_TEST_OPENAI_KEY"
KEY = "sk-test-3f9a1c77e2b54d0e9a8b-never-log-me"


def write_prompts(path, prompts):
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def recipe_text(base_url: str, **engine) -> str:
    params = {"use": "openai", "model": "echo", "base_url": base_url, "api_key_env": KEY_ENV,
              "backoff_base": 0.01, "backoff_max": 0.05, **engine}
    return textwrap.dedent(f"""\
        name: openai-test
        engines:
          default: {json.dumps(params)}
        stages:
          - use: read.jsonl
            with: {{path: prompts.jsonl}}
          - use: generate.responses
            with: {{engines: [default], max_tokens: 64, temperature: 0.5}}
          - use: write.jsonl
            with: {{path: out.jsonl, format: raw}}
        """)


def test_key_is_sent_but_never_in_identity_logs_or_run_dir(tmp_path, monkeypatch, caplog, openai_registered):
    monkeypatch.setenv(KEY_ENV, KEY)
    write_prompts(tmp_path / "prompts.jsonl", ["hello there", "echo my key", "flaky one"])
    # The server even echoes the key back in an error message; it must be redacted.
    script = {"echo my key": [Fault.error(400, f"invalid key {KEY}")], "flaky": ["500", "429"]}
    recipe = tmp_path / "recipe.yaml"
    with FaultServer(script=script, api_key=KEY) as srv:
        recipe.write_text(recipe_text(srv.base_url))
        with caplog.at_level(logging.DEBUG):
            result = curate.run(recipe, run_dir=tmp_path / "run")
        headers = srv.auth_headers
    assert headers and all(h == f"Bearer {KEY}" for h in headers)  # the key was used...
    assert "retry" in caplog.text  # (debug logging was on)
    assert KEY not in caplog.text  # ...but never logged
    for path in (tmp_path / "run").rglob("*"):  # nor written to any run file
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    removed = pl.read_parquet(next((tmp_path / "run" / "stages").glob("*generate*/removed.parquet")))
    assert removed.height == 1 and "invalid key ***" in removed["reason"][0]
    out = result.outputs["write.jsonl"]
    assert sorted(out["response"].to_list()) == ["flaky one", "hello there"]


def test_too_long_prompt_fails_only_its_row(tmp_path, openai_registered, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    prompts = ["first prompt", f"{CONTEXT_MARKER} a very long document", "third prompt"]
    write_prompts(tmp_path / "prompts.jsonl", prompts)
    recipe = tmp_path / "recipe.yaml"
    with FaultServer() as srv:
        recipe.write_text(recipe_text(srv.base_url))
        result = curate.run(recipe, run_dir=tmp_path / "run")
        attempts = srv.stats()["chat_requests"]
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == ["first prompt", "third prompt"]
    removed = pl.read_parquet(next((tmp_path / "run" / "stages").glob("*generate*/removed.parquet")))
    assert removed["prompt"].to_list() == [prompts[1]]
    assert "HTTP 400" in removed["reason"][0] and "maximum context length" in removed["reason"][0]
    assert attempts == 3  # the 400 was not retried


RUNNER = textwrap.dedent("""\
    import sys
    from contextlib import nullcontext
    sys.path.insert(0, sys.argv[3])
    import curate, curate_openai
    from curate.plugins import registry, temporary_plugin
    missing = registry().find("openai", ("engine",)) is None
    with temporary_plugin(curate_openai, "openai-under-test") if missing else nullcontext():
        curate.run(sys.argv[1], run_dir=sys.argv[2])
    """)


def test_resume_after_sigkill_sends_only_the_remaining_requests(tmp_path, openai_registered, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    total = 80
    write_prompts(tmp_path / "prompts.jsonl", [f"prompt number {i}" for i in range(total)])
    recipe, run_dir = tmp_path / "recipe.yaml", tmp_path / "run"
    with FaultServer(latency=0.05) as srv:
        recipe.write_text(recipe_text(srv.base_url, max_in_flight=2))
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(recipe), str(run_dir), str(PLUGIN_DIR)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while srv.stats()["responses_ok"] < 10:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the run did not start sending requests"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)  # no chance to clean up
        finally:
            proc.kill()
            proc.wait()
        with sqlite3.connect(run_dir / "requests.sqlite") as db:
            persisted = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        sent_before = srv.stats()["chat_requests"]
        assert 0 < persisted < total, persisted

        result = curate.run(recipe, run_dir=run_dir)
        sent_on_rerun = srv.stats()["chat_requests"] - sent_before
        rerun_prompts = [b["messages"][-1]["content"] for b in srv.bodies[sent_before:]]

    assert sent_on_rerun == total - persisted
    assert len(set(rerun_prompts)) == len(rerun_prompts)  # each remaining prompt once
    counters = result.stats["generate.responses"].counters
    assert counters.get("requests_cached") == persisted and counters.get("requests_sent") == total - persisted
    out = result.outputs["write.jsonl"]
    assert out.height == total and sorted(out["response"].to_list()) == sorted(
        f"prompt number {i}" for i in range(total))


CTRL_C = textwrap.dedent("""\
    import asyncio, sys
    sys.path.insert(0, sys.argv[3])
    from curate.engine import ChatRequest
    from curate_openai import OpenAIEngine

    engine = OpenAIEngine(model="echo", base_url=sys.argv[1], api_key_env=None, max_in_flight=4, timeout=600)
    requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"p{i}"}]) for i in range(20)]

    def run():
        engine.generate(requests, lambda r: print("RESULT", r.id, flush=True))

    async def in_a_loop():  # the engine runs its own loop in a helper thread
        run()

    try:
        if sys.argv[2] == "thread":
            asyncio.new_event_loop().run_until_complete(in_a_loop())
        else:
            run()
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    print("FINISHED", flush=True)
    """)


@pytest.mark.parametrize("mode", ["plain", "thread"])
def test_ctrl_c_abandons_requests_in_flight(mode):
    def script(body, index):  # three answers, then every request hangs
        return "ok" if index < 3 else "hang"

    with FaultServer(script=script) as srv:
        proc = subprocess.Popen([sys.executable, "-c", CTRL_C, srv.base_url, mode, str(PLUGIN_DIR)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            results = [proc.stdout.readline().split()[-1] for _ in range(3)]
            deadline = time.monotonic() + 30
            while srv.stats()["in_flight"] < 4:  # four hanging requests: the bound
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        sent = srv.stats()["chat_requests"]
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "FINISHED" not in out
    assert len(set(results)) == 3  # the answers that arrived were delivered
    assert sent == 7  # 3 answered + 4 abandoned in flight; nothing sent after Ctrl-C
