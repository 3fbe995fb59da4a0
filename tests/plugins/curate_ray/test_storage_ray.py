"""Object-store inputs and outputs on Ray: a folder of s3:// files read in parallel (one task per
file), outputs written by the workers in parts and committed, equal to the local executor's."""

from __future__ import annotations

import io
import json
import textwrap

import polars as pl
import pytest

import curate

pytestmark = pytest.mark.slow


def _recipe(store, prefix: str) -> str:
    return textwrap.dedent(f"""\
        name: ray-s3
        stages:
          - use: read.jsonl
            with: {{path: "{store.url('in/')}"}}
          - use: filter.length
            with: {{column: prompt, unit: words, min: 3}}
            resources: {{batch_size: 4}}
          - use: write.jsonl
            with: {{path: "{store.url(prefix + '/sft.jsonl')}", format: sft}}
          - use: write.parquet
            id: parts
            with: {{path: "{store.url(prefix + '/parts/')}", format: sft}}
          - use: write.hf
            id: hf
            with: {{path: "{store.url(prefix + '/hf')}", format: sft}}
        """)


def test_s3_folder_in_parts_out_equal_local(tmp_path, ray_local, s3_store):
    if s3_store is None:
        pytest.skip("needs moto[server] and s3fs")
    store = s3_store
    for f in range(3):  # three files: three read tasks; ids numbered across them
        lines = [json.dumps({"prompt": f"file {f} prompt {i} " + "word " * (i % 4), "response": f"r{f}.{i}"})
                 for i in range(9)]
        store.put(f"in/{f}.jsonl", "\n".join(lines) + "\n")
    (tmp_path / "local.yaml").write_text(_recipe(store, "local"))
    (tmp_path / "ray.yaml").write_text(_recipe(store, "ray"))
    local = curate.run(tmp_path / "local.yaml", run_dir=tmp_path / "local", report=False)
    on_ray = curate.run(tmp_path / "ray.yaml", run_dir=tmp_path / "ray", executor="ray", report=False)

    def jsonl(key: str) -> list[dict]:
        return [json.loads(x) for x in store.get(key).decode().splitlines()]

    want = jsonl("local/sft.jsonl")
    got = jsonl("ray/sft.jsonl")
    assert len(want) == on_ray.stats["filter.length"].rows_out == local.stats["filter.length"].rows_out > 0
    key = lambda r: json.dumps(r["messages"])  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want)  # ids by position across the files
    # the folder output holds one part per block of the filter's output (batches of 4 rows)
    parts = [k for k in store.keys("ray/parts/") if k.endswith(".parquet")]
    assert len(parts) > 1
    rows = pl.concat([pl.read_parquet(io.BytesIO(store.get(k))) for k in parts], how="diagonal_relaxed")
    assert sorted(rows["id"].to_list()) == sorted(r["id"] for r in want)
    assert f"{len(want)} rows" in store.get("ray/parts/README.md").decode()
    assert "ray/hf/state.json" in store.keys("ray/hf/")
    # the parts of the single-file outputs were removed after the commit
    assert not [k for k in store.keys("ray/") if ".parts" in k]


def test_weighted_metrics_sum_over_batches_and_retries_replace(ray_local):
    from curate_ray.progress import StageTally

    tally = StageTally.remote()
    ray_local.get(tally.finish.remote("a", 10, 0, {}, {"last": 1.0}, {}, {"rate": (3.0, 4.0)}))
    ray_local.get(tally.finish.remote("b", 10, 0, {}, {"last": 2.0}, {}, {"rate": (1.0, 6.0)}))
    ray_local.get(tally.finish.remote("b", 10, 0, {}, {"last": 2.0}, {}, {"rate": (0.0, 6.0)}))  # b retried
    totals = ray_local.get(tally.totals.remote())
    assert totals["metrics"]["rate"] == pytest.approx(3.0 / 10.0)
    assert totals["metrics"]["last"] == 2.0
