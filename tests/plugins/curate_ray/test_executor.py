"""The ray executor against a real local Ray cluster: the same rows as the local executor,
engine stages on actors, a worker killed mid-stage, two nodes, plugins missing on workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing.fault_server import FaultServer

pytestmark = pytest.mark.slow  # a Ray cluster on 2 shared cores: seconds per stage


def rows_as_set(df: pl.DataFrame, columns: list[str]) -> set[tuple]:
    return set(df.select(columns).iter_rows())


def write_prompts(path: Path, n: int, dup_every: int = 0) -> Path:
    lines = []
    for i in range(n):
        j = i % dup_every if dup_every else i
        lines.append(json.dumps({"prompt": f"question {j}: tell me about topic {j % 11}"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def generation_recipe(base_url: str, *, resources: str = "", max_in_flight: int = 8) -> str:
    engine = {"use": "openai", "model": "echo", "base_url": base_url, "api_key_env": None,
              "backoff_base": 0.01, "backoff_max": 0.05, "max_in_flight": max_in_flight}
    return textwrap.dedent(f"""\
        name: ray-gen
        engines:
          default: {json.dumps(engine)}
        stages:
          - use: read.jsonl
            with: {{path: prompts.jsonl}}
          - use: dedup.exact
            with: {{column: prompt}}
          - use: generate.responses
            with: {{engines: [default], max_tokens: 16, temperature: 0.5}}
            {resources}
          - use: filter.length
            with: {{column: response, unit: words, min: 3}}
          - use: write.jsonl
            with: {{path: out.jsonl}}
        """)


def test_generation_dedup_and_filters_equal_local(tmp_path, ray_local):
    write_prompts(tmp_path / "prompts.jsonl", 60, dup_every=40)
    with FaultServer() as srv:
        (tmp_path / "r.yaml").write_text(generation_recipe(srv.base_url))
        local = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "local", report=False)
        sent_local = srv.stats()["chat_requests"]
        on_ray = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)
        sent_ray = srv.stats()["chat_requests"] - sent_local
    cols = ["id", "prompt", "response"]
    assert rows_as_set(on_ray.outputs["write.jsonl"], cols) == rows_as_set(local.outputs["write.jsonl"], cols)
    assert on_ray.outputs["write.jsonl"].height == 40  # 20 exact duplicates gone
    assert sent_ray == sent_local == 40  # one request per kept prompt, on both
    for sid, stats in local.stats.items():
        assert (on_ray.stats[sid].rows_in, on_ray.stats[sid].rows_out, on_ray.stats[sid].rows_removed) == \
            (stats.rows_in, stats.rows_out, stats.rows_removed), sid
    assert on_ray.stats["generate.responses"].counters.get("requests_sent") == 40
    # the engine's usage measured in the actors comes back per stage, as locally
    usage = on_ray.stats["generate.responses"].engines["default"]
    assert usage["requests_sent"] == 40 and usage["completion_tokens"] > 0
    assert usage["completion_tokens"] == local.stats["generate.responses"].engines["default"]["completion_tokens"]
    # Checkpoints are folders of parts; the run dir reads them like files.
    assert (tmp_path / "ray" / "stages" / "02-generate.responses" / "output.parquet").is_dir()
    assert curate.RunDir(tmp_path / "ray").output("generate.responses").height == 40
    # The actors' request-cache shards were folded into the run's cache: a local rerun of the
    # generation stage (fingerprint changed by nothing) reuses the checkpoint, and a fresh run
    # over the same cache sends nothing.
    assert not list((tmp_path / "ray" / "requests.d").glob("*.sqlite"))
    with FaultServer() as srv2:
        (tmp_path / "r.yaml").write_text(generation_recipe(srv2.base_url))
        # a different base_url changes the engine identity; the old URL's answers don't apply
        again = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)
        assert srv2.stats()["chat_requests"] == 40
    assert again.outputs["write.jsonl"].height == 40


def test_resume_on_ray_reuses_finished_stages(tmp_path, ray_local):
    write_prompts(tmp_path / "prompts.jsonl", 30)
    with FaultServer() as srv:
        (tmp_path / "r.yaml").write_text(generation_recipe(srv.base_url))
        curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", executor="ray", report=False)
        first = srv.stats()["chat_requests"]
        # the second run, locally, resumes from the ray run's checkpoints and sends nothing
        result = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", report=False)
        assert srv.stats()["chat_requests"] == first == 30
    assert all(s.cached for s in result.stats.values())


def _ours(pid: int) -> bool:
    """True for a descendant of this test process: a worker of the cluster this session started,
    never one of another cluster on the same machine."""
    me = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
        if pid == me:
            return True
    return False


def _worker_pids() -> list[int]:
    """The processes of Ray Data's map actors (Ray titles them ``ray::MapWorker(...)``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"MapWorker" in cmdline and _ours(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def test_killed_worker_loses_only_its_in_flight_requests(tmp_path, ray_local):
    n = 80
    write_prompts(tmp_path / "prompts.jsonl", n)
    resources = "resources: {concurrency: 2, batch_size: 40}"
    with FaultServer(latency=0.1) as srv:
        (tmp_path / "r.yaml").write_text(generation_recipe(srv.base_url, resources=resources, max_in_flight=4))
        box: dict = {}

        def go():
            try:
                box["result"] = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", executor="ray",
                                           report=False)
            except BaseException as exc:  # noqa: BLE001 - reported below
                box["error"] = exc

        thread = threading.Thread(target=go)
        thread.start()
        deadline = time.monotonic() + 300
        while srv.stats()["responses_ok"] < 30:
            assert thread.is_alive(), box
            assert time.monotonic() < deadline, "the generation stage never got going"
            time.sleep(0.05)
        pids = _worker_pids()
        assert pids, "no map worker actor found"
        os.kill(pids[0], signal.SIGKILL)
        done_before_kill = srv.stats()["responses_ok"]
        thread.join(timeout=600)
        assert not thread.is_alive()
        sent = srv.stats()["chat_requests"]
    assert "error" not in box, box.get("error")
    out = box["result"].outputs["write.jsonl"]
    assert out.height == n and out["id"].n_unique() == n  # no row lost or duplicated
    # Requests completed before the kill were not sent again: at most the killed actor's in-flight
    # ones (2 of max_in_flight 4 over 2 actors) and the cache's last write window were.
    assert done_before_kill >= 30
    assert sent - n <= 8, f"{sent - n} requests were sent twice"


def test_plugin_missing_on_workers_is_named(tmp_path, ray_local):
    class Upper(curate.Filter):
        """Keep every row (registered in the driver only)."""

        name = "filter.driver_only"

        def process_batch(self, df):
            return df

    class Plugin:
        @curate.hookimpl
        def curate_register_filters(self, register):
            register(Upper)

    write_prompts(tmp_path / "prompts.jsonl", 5)
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: missing
        stages:
          - use: read.jsonl
            with: {path: prompts.jsonl}
          - use: filter.driver_only
        """))
    from curate.plugins import temporary_plugin

    with temporary_plugin(Plugin(), "driver-only", package="curate-driver-only"):
        with pytest.raises(curate.StageFailure) as err:
            curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", executor="ray", report=False)
    text = str(err.value)
    assert "filter.driver_only" in text and "curate-driver-only" in text and "node " in text


def _kill_cluster(temp_dir: Path) -> None:
    """Stop the processes of one cluster: those whose command line names its temp dir (``ray stop``
    would also kill every other Ray cluster of the machine, this test session's own included)."""
    mark = str(temp_dir).encode()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), sig)
                    found = True
            except (OSError, ProcessLookupError):
                continue
        if not found:
            return
        time.sleep(2)


@pytest.fixture()
def two_node_cluster(tmp_path_factory):
    """``ray start --head`` plus a second ``ray start --address`` process with its own resources:
    two Ray nodes on this machine, sharing a token (Ray 2.60 turns token auth on by default)."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ray2n-", dir="/tmp"))  # short: Ray's socket paths have a limit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "curate-test-token-0123456789abcdef"}
    port = "6391"
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 1024**2), "--disable-usage-stats",
              "--temp-dir", str(temp_dir)]
    ray_bin = str(Path(sys.executable).with_name("ray"))
    try:
        subprocess.run([ray_bin, "start", "--head", "--port", port, "--include-dashboard", "false", *common],
                       env=env, check=True, capture_output=True, timeout=180)
        subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", "--resources", '{"second": 1}', *common],
                       env=env, check=True, capture_output=True, timeout=180)
        yield f"127.0.0.1:{port}", env
    finally:
        _kill_cluster(temp_dir)


def test_two_nodes_share_a_stage(tmp_path, two_node_cluster):
    """A stage's actor pool spans both nodes and each gets batches. The stage calls an engine
    (200 ms a request): a filter's batches took milliseconds, and under load one actor could
    finish every batch before the pool handed the other one any."""
    address, env = two_node_cluster
    write_prompts(tmp_path / "prompts.jsonl", 40)
    with FaultServer(latency=0.2) as srv:
        (tmp_path / "r.yaml").write_text(generation_recipe(
            srv.base_url, resources="resources: {concurrency: 2, num_cpus: 1, batch_size: 5}", max_in_flight=4))
        proc = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "r.yaml"), "--run-dir",
                               str(tmp_path / "run"), "--executor", "ray", "--ray-address", address, "--quiet",
                               "--no-report"], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert srv.stats()["chat_requests"] == 40
    meta = json.loads((tmp_path / "run" / "stages" / "02-generate.responses" / "meta.json").read_text())
    assert meta["stats"]["rows_out"] == 40
    assert meta["stats"]["metrics"]["ray_nodes"] == 2  # both nodes ran batches of the stage
    assert len((tmp_path / "run" / "out.jsonl").read_text().splitlines()) == 40


QUICKSTART = Path(__file__).resolve().parents[3] / "recipes" / "quickstart.yaml"


def test_quickstart_gives_the_same_rows_on_ray(tmp_path, ray_local):
    """The mission's main job, both branches (cleaning with exact, fuzzy and semantic dedup;
    ground-truth judging with sandboxed code), gives the same rows on both executors."""
    local = curate.run(QUICKSTART, run_dir=tmp_path / "local", report=False)
    on_ray = curate.run(QUICKSTART, run_dir=tmp_path / "ray", executor="ray", report=False)
    assert set(on_ray.outputs) == set(local.outputs)
    for writer, rows in local.outputs.items():
        key = [c for c in ("prompt", "messages", "chosen", "rejected") if c in rows.columns]
        theirs = on_ray.outputs[writer]
        assert theirs.height == rows.height, writer
        assert set(map(str, theirs.select(key).iter_rows())) == set(map(str, rows.select(key).iter_rows())), writer
    for sid, stats in local.stats.items():
        assert (on_ray.stats[sid].rows_out, on_ray.stats[sid].rows_removed) == (stats.rows_out, stats.rows_removed), sid


def test_join_and_append_equal_local(tmp_path, ray_local):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"prompt": f"p{i}", "x": i}) + "\n" for i in range(30)))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"prompt": f"p{i}", "y": -i}) + "\n" for i in range(10, 40)))
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: joins
        stages:
          - {id: a, use: read.jsonl, with: {path: a.jsonl}}
          - {id: b, use: read.jsonl, with: {path: b.jsonl}, inputs: []}
          - id: joined
            use: filter.length
            with: {column: prompt, min: 1}
            inputs: [a, b]
            join: {on: [prompt], how: inner}
          - id: appended
            use: filter.length
            with: {column: prompt, min: 1}
            inputs: [a, b]
          - {id: out-joined, use: write.jsonl, with: {path: joined.jsonl}, inputs: [joined]}
          - {id: out-appended, use: write.jsonl, with: {path: appended.jsonl}, inputs: [appended]}
        """))
    local = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "local", report=False)
    on_ray = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)
    for writer, cols in (("out-joined", ["prompt", "x", "y"]), ("out-appended", ["prompt", "x", "y"])):
        assert rows_as_set(on_ray.outputs[writer], cols) == rows_as_set(local.outputs[writer], cols), writer
    assert on_ray.outputs["out-joined"].height == 20 and on_ray.outputs["out-appended"].height == 60
    assert on_ray.stats["joined"].rows_in == local.stats["joined"].rows_in == 20


#: Ray's own agents (killing them takes the node down) and the idle or progress processes
_NOT_WORKERS = (b"ray::IDLE", b"ray::StageTally", b"ray::DashboardAgent", b"ray::RuntimeEnvAgent")


def _busy_worker_pids() -> list[int]:
    """Ray worker processes running a task or an actor of curate's (titled ``ray::<name>``),
    leaving out idle pooled workers and the progress actor."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"ray::") and not cmdline.startswith(_NOT_WORKERS) and _ours(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def test_killed_worker_during_dedup_loses_no_row(tmp_path, ray_local):
    """SIGKILL of a worker while dedup.minhash runs its shuffles: Ray retries the lost tasks, and
    the run ends with exactly the local executor's kept rows."""
    from ..curate_dedup.test_protocol import near_duplicates

    near_duplicates(6000, seed=3).write_parquet(tmp_path / "docs.parquet")
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: ray-dedup-kill
        stages:
          - use: read.parquet
            with: {path: docs.parquet}
          - use: dedup.minhash
            with: {column: prompt, threshold: 0.7}
          - use: write.parquet
            with: {path: kept.parquet, card: false}
        """))
    local = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "local", report=False)
    box: dict = {}

    def go():
        try:
            box["result"] = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    killed = []
    deadline = time.monotonic() + 300
    dedup_dir = tmp_path / "ray" / "stages" / "01-dedup.minhash"
    while thread.is_alive() and not killed and time.monotonic() < deadline:
        # the reader finished, the dedup has not: kill whatever worker is busy right now
        if (tmp_path / "ray" / "stages" / "00-read.parquet" / "meta.json").exists() \
                and not (dedup_dir / "meta.json").exists():
            # a worker of the dedup's own steps (signatures, shuffles, components), not the reader
            # of its input checkpoint
            pids = [p for p in _busy_worker_pids() if b"_read_files" not in Path(f"/proc/{p}/cmdline").read_bytes()]
            if pids:
                title = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")[0]
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], title))
        time.sleep(0.05)
    thread.join(timeout=600)
    assert killed, "the dedup stage ended before a busy worker was seen"
    assert "error" not in box, box.get("error")
    on_ray = box["result"]
    kept_ray, kept_local = on_ray.outputs["write.parquet"], local.outputs["write.parquet"]
    assert kept_ray.height == kept_local.height and kept_ray["id"].n_unique() == kept_ray.height
    assert set(kept_ray["id"].to_list()) == set(kept_local["id"].to_list())
    assert on_ray.stats["dedup.minhash"].rows_removed == local.stats["dedup.minhash"].rows_removed > 0


def test_row_stages_read_run_and_write_checkpoint_pieces(tmp_path, ray_local):
    """Engine-free row stages read pieces of the input's checkpoint and write their own parts in
    one task each: the same rows, ids, order and removal reasons as locally, across several
    pieces, a stage that removes every row, and stages after it that get only empty pieces."""
    from curate_ray.executor import RayExecutor

    folder = tmp_path / "in"
    folder.mkdir()
    for f in range(3):  # three files: three read tasks, and small batches: several pieces each
        write_prompts(folder / f"shard-{f}.jsonl", 40 + f)
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: ray-pieces
        stages:
          - use: read.jsonl
            with: {path: in/}
          - use: filter.regex
            with: {column: prompt, pattern: "topic 3$", action: drop}
            resources: {batch_size: 10}
          - id: keep
            use: write.jsonl
            with: {path: kept.jsonl}
          - use: filter.regex
            with: {column: prompt, pattern: "question", action: drop}
          - use: filter.length
            with: {column: prompt, unit: words, min: 1}
          - use: write.parquet
            with: {path: none.parquet}
        """))
    local = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "local", report=False)
    on_ray = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", report=False,
                        executor=RayExecutor(batch_rows=16))
    assert on_ray.outputs["keep"].to_dicts() == local.outputs["keep"].to_dicts()  # order and ids too
    assert on_ray.outputs["write.parquet"].height == 0 == local.outputs["write.parquet"].height
    for sid, stats in local.stats.items():
        assert (on_ray.stats[sid].rows_out, on_ray.stats[sid].rows_removed) == (stats.rows_out, stats.rows_removed), sid
    stage = tmp_path / "ray" / "stages" / "01-filter.regex"
    written = sorted(p.name for p in (stage / "output.parquet").iterdir())
    # a piece per source row group of 16 rows (at least the 10 asked): 3 per file, a part each
    assert written == [f"part-{i:06d}.parquet" for i in range(9)]
    removed = pl.read_parquet(stage / "removed.parquet")
    assert removed.height == local.stats["filter.regex"].rows_removed > 0
    assert removed["reason"].str.contains("topic 3").all()


def test_a_users_error_in_a_worker_reads_as_locally(tmp_path, ray_local):
    """Bad data found by a worker: the same error (type, message, fix) as the local executor
    raises, not Ray's wrapper with the worker's traceback."""
    (tmp_path / "p.jsonl").write_text('{"prompt": 1}\n{"prompt": 2}\n')
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: ray-bad-data
        stages:
          - use: read.jsonl
            with: {path: p.jsonl}
          - use: filter.regex
            with: {column: prompt, pattern: x, action: drop}
        """))
    with pytest.raises(curate.DataError) as local:
        curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "local", report=False)
    with pytest.raises(curate.DataError) as on_ray:
        curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)
    assert str(on_ray.value) == str(local.value) and "not text" in str(on_ray.value)
    assert "ray::" not in str(on_ray.value) and "Traceback" not in str(on_ray.value)
