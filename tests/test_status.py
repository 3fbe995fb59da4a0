"""`curate status`: where a run stands — finished, running, crashed or stopped — from its folder alone."""

import json
import os
import socket
import subprocess
import sys
import types

import polars as pl
import pytest

import curate
from curate.cli import main
from curate.status import run_status

RECIPE = """name: st
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: dedup
    use: dedup.exact
  - id: peek
    use: filter.peek
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""

SEEN: list[dict] = []


class Peek(curate.Filter):
    """Records `curate status` of its own run while it runs; removes nothing."""

    name = "filter.peek"

    def drop_reason(self, df):
        SEEN.append(run_status(curate.RunDir(self.ctx.run_dir)))
        return pl.lit(None, pl.Utf8)


plugin = types.SimpleNamespace(curate_register_filters=curate.hookimpl(lambda register: register(Peek)))


@pytest.fixture
def recipe(tmp_path, write_jsonl, write_recipe, curate_plugin):
    curate_plugin(plugin, "peek")
    SEEN.clear()
    write_jsonl([{"prompt": "a"}, {"prompt": "A"}, {"prompt": "b"}])
    return write_recipe(RECIPE)


def status(capsys, *args):
    code = main(["status", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def states(report):
    return {s["id"]: s["state"] for s in report["stages"]}


def test_finished_run(recipe, tmp_path, capsys):
    curate.run(recipe, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / ".curate-lock").exists()  # released at the end
    code, out, _ = status(capsys, tmp_path / "run")
    assert code == 0
    assert "state: finished" in out and "recipe" in out and "st (" in out
    assert "dedup.exact" in out and "done" in out
    code, out, _ = status(capsys, tmp_path / "run", "--json")
    report = json.loads(out)
    assert report["state"] == "finished" and report["recipe"] == "st"
    assert states(report) == {"read.jsonl": "done", "dedup": "done", "peek": "done", "write.jsonl": "done"}
    dedup = next(s for s in report["stages"] if s["id"] == "dedup")
    assert (dedup["rows_in"], dedup["rows_out"], dedup["rows_removed"]) == (3, 2, 1)


def test_rerun_shows_reused_stages(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path / "run")
    curate.run(recipe, run_dir=tmp_path / "run")
    assert set(states(run_status(curate.RunDir(tmp_path / "run"))).values()) == {"reused"}


def test_running_run_seen_from_inside_it(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path / "run")
    report = SEEN[0]
    assert report["state"] == "running" and f"pid {os.getpid()} on {socket.gethostname()}" in report["detail"]
    assert states(report) == {"read.jsonl": "done", "dedup": "done", "peek": "running", "write.jsonl": "not run"}


def test_running_rerun_tells_reused_from_done(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path / "run")
    SEEN.clear()
    curate.run(recipe, run_dir=tmp_path / "run", overrides={"stages.dedup.with.lowercase": False})
    assert states(SEEN[0]) == {"read.jsonl": "reused", "dedup": "done", "peek": "running", "write.jsonl": "not run"}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_crashed_run_left_a_lock_whose_process_is_gone(recipe, tmp_path, capsys):
    curate.run(recipe, run_dir=tmp_path / "run")
    rd = curate.RunDir(tmp_path / "run")
    manifest = rd.manifest()
    manifest.update(complete=False, finished=None)
    for stage in manifest["stages"]:
        stage.update(status="not run", stats=None)
    rd.write_manifest(manifest)
    (rd.path / "stages" / "03-write.jsonl" / "meta.json").unlink()  # killed while writing
    pid = _dead_pid()
    (rd.lock_path).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "x"}))
    report = run_status(rd)
    assert report["state"] == "crashed" and f"pid {pid}" in report["detail"]
    assert states(report)["dedup"] == "done" and states(report)["write.jsonl"] == "failed"
    code, out, _ = status(capsys, rd.path)
    assert code == 0 and "crashed or killed" in out and "half-written" in out


def test_a_lock_from_another_host_is_not_judged(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path / "run")
    rd = curate.RunDir(tmp_path / "run")
    rd.write_manifest({**rd.manifest(), "complete": False})
    rd.lock_path.write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "x"}))
    report = run_status(rd)
    assert report["state"] == "unknown" and "elsewhere.example" in report["detail"]


def test_failed_run_stopped_in_a_half_written_stage(recipe, tmp_path, capsys, monkeypatch):
    from curate.builtins.dedup_exact import ExactDedup

    monkeypatch.setattr(ExactDedup, "find_duplicates", lambda self, df: 1 / 0)
    with pytest.raises(curate.StageFailure):
        curate.run(recipe, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / ".curate-lock").exists()  # released after a failure too
    report = run_status(curate.RunDir(tmp_path / "run"))
    assert report["state"] == "stopped"
    assert states(report) == {"read.jsonl": "done", "dedup": "failed", "peek": "not run", "write.jsonl": "not run"}
    _, out, _ = status(capsys, tmp_path / "run")
    assert "stopped before the end" in out and "failed" in out


def test_engine_status_json_is_shown(recipe, tmp_path, capsys):
    curate.run(recipe, run_dir=tmp_path / "run")
    rd = curate.RunDir(tmp_path / "run")
    rd.engine_dir("batch/gpt").mkdir(parents=True)
    (rd.engine_dir("batch/gpt") / "status.json").write_text(json.dumps({
        "summary": "2 batches: 1 completed, 1 in progress (1,500 of 2,000 requests)",
        "batches": [{"id": "batch_abc", "state": "completed", "counts": {"completed": 1000, "failed": 0}},
                    {"id": "batch_def", "state": "in_progress", "counts": {"completed": 500, "failed": 3}}]}))
    code, out, _ = status(capsys, rd.path)
    assert code == 0 and "1 completed, 1 in progress" in out
    line = next(x for x in out.splitlines() if "batch_def" in x)
    assert "in_progress" in line and "500" in line and "3" in line
    code, out, _ = status(capsys, rd.path, "--json")
    engine = json.loads(out)["engines"][0]
    assert engine["name"] == "batch_gpt" and engine["status"]["batches"][0]["id"] == "batch_abc"


def test_a_marked_folder_without_run_json_has_not_started(tmp_path, capsys):
    curate.RunDir(tmp_path / "run").create("r")
    code, out, _ = status(capsys, tmp_path / "run")
    assert code == 0 and "no run.json" in out


@pytest.mark.parametrize("make", ["missing", "file", "foreign"])
def test_not_a_run_dir_exits_2(tmp_path, capsys, make):
    path = tmp_path / "x"
    if make == "file":
        path.write_text("hi")
    elif make == "foreign":
        path.mkdir()
    code, _, err = status(capsys, path)
    assert code == 2 and str(path) in err and "fix:" in err and "Traceback" not in err


def test_a_run_that_left_batch_jobs_waiting(recipe, tmp_path, capsys):
    # what `curate run --no-wait` leaves: the manifest marks the stage waiting, the lock is gone
    curate.run(recipe, run_dir=tmp_path / "run")
    rd = curate.RunDir(tmp_path / "run")
    manifest = rd.manifest()
    manifest["complete"] = False
    for stage in manifest["stages"][2:]:
        stage.update(status="waiting" if stage["id"] == "peek" else "not run", stats=None)
    rd.write_manifest(manifest)
    report = run_status(rd)
    assert report["state"] == "waiting" and "run the same command again" in report["detail"]
    assert states(report)["peek"] == "waiting" and states(report)["dedup"] == "done"
    _, out, _ = status(capsys, rd.path)
    assert "waiting for batch jobs" in out and "(for batch jobs)" in out
