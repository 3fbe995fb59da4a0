"""Batch jobs survive the process: ``kill -9`` of ``curate run`` between submit and download, then
a rerun resumes polling the recorded batch (no new batch); ``curate run --no-wait`` submits and
exits 0, a rerun picks the batch up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import curate
from curate.files import read_json
from curate.testing import BatchServer

from .test_batch import assert_each_row_answered_once, prompts, setup_recipe

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "curate-openai"

# `curate` on the command line, with the plugin registered even when it is not installed.
CLI = textwrap.dedent("""\
    import sys
    from contextlib import nullcontext
    sys.path.insert(0, sys.argv[1])
    import curate_openai
    from curate.cli import main
    from curate.plugins import registry, temporary_plugin
    missing = registry().find("openai", ("engine",)) is None
    with temporary_plugin(curate_openai, "openai-under-test") if missing else nullcontext():
        sys.exit(main(sys.argv[2:]))
    """)


def curate_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, str(PLUGIN_DIR), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_kill_9_after_submit_then_rerun_resumes_polling_without_a_new_batch(tmp_path, openai_registered):
    run_dir = tmp_path / "run"
    record = run_dir / "engines" / "default" / "batches" / "00001.json"
    with BatchServer(hold=True) as srv:  # the batch stays in progress until released
        recipe = setup_recipe(tmp_path, srv.base_url, prompts())
        proc = curate_cli("run", str(recipe), "--run-dir", str(run_dir), "--quiet")
        try:
            deadline = time.monotonic() + 60
            # Submitted, recorded with its id, and polled at least once: the process is waiting.
            while not (srv.stats()["polls"] >= 1 and (read_json(record) or {}).get("id")):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the run did not submit a batch"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)  # no chance to clean up
        finally:
            proc.kill()
            proc.communicate()
        before = srv.stats()
        assert before["batches_created"] == 1 and before["requests_answered"] == 0

        srv.hold = False
        result = curate.run(recipe, run_dir=run_dir)
        after = srv.stats()
    assert after["batches_created"] == 1 and after["files_uploaded"] == 1  # polled again, never resubmitted
    assert after["polls"] > before["polls"]
    assert_each_row_answered_once(srv, result)


@pytest.mark.slow
def test_no_wait_submits_and_exits_0_then_reruns_pick_the_batch_up(tmp_path, openai_registered):
    run_dir = tmp_path / "run"
    with BatchServer(hold=True) as srv:
        recipe = setup_recipe(tmp_path, srv.base_url, prompts())
        args = ("run", str(recipe), "--run-dir", str(run_dir), "--quiet", "--no-wait")
        out, err = curate_cli(*args).communicate(timeout=120)
        assert "submitted 1 batch (batch_0001)" in err and "run the same command again to pick them up" in err, err
        manifest = read_json(run_dir / "run.json")
        assert manifest["complete"] is False
        assert [s["status"] for s in manifest["stages"]] == ["ran", "waiting", "not run"]
        status = read_json(run_dir / "engines" / "default" / "status.json")
        assert [b["id"] for b in status["batches"]] == ["batch_0001"]

        proc = curate_cli(*args)  # still running: nothing new is submitted
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "1 batch still running (batch_0001)" in err, err

        srv.hold = False
        proc = curate_cli(*args)
        out, err = proc.communicate(timeout=120)
        stats = srv.stats()
    assert proc.returncode == 0, err
    assert stats["batches_created"] == 1 and stats["files_uploaded"] == 1
    assert set(srv.answered().values()) == {1} and len(srv.answered()) == len(prompts())
    rows = [json.loads(line) for line in (run_dir / "out.jsonl").read_text().splitlines()]
    assert sorted(r["response"] for r in rows) == sorted(prompts())
    assert read_json(run_dir / "run.json")["complete"] is True


def test_no_wait_lets_other_branches_finish(tmp_path, openai_registered):
    """A branch without batches still runs while another waits for its batch."""
    with BatchServer(hold=True) as srv:
        recipe = setup_recipe(tmp_path, srv.base_url, prompts(3))
        (tmp_path / "other.jsonl").write_text('{"prompt": "x"}\n')
        recipe.write_text(recipe.read_text() + (
            "  - {id: other, use: read.jsonl, inputs: [], with: {path: other.jsonl}}\n"
            "  - {id: other-out, use: write.jsonl, with: {path: other-out.jsonl, format: raw}}\n"))
        with pytest.raises(curate.BatchesPending) as info:
            curate.run(recipe, run_dir=tmp_path / "run", wait=False)
    assert info.value.stages == ["answers"]
    statuses = {s["id"]: s["status"] for s in read_json(tmp_path / "run" / "run.json")["stages"]}
    assert statuses == {"read.jsonl": "ran", "answers": "waiting", "write.jsonl": "not run", "other": "ran",
                        "other-out": "ran"}
    assert (tmp_path / "run" / "other-out.jsonl").is_file()
