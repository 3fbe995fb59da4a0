"""recipes/nemotron4-prompts.yaml end to end, offline, with real engines.

* the OpenAI engine against a local FaultServer whose responder answers each template with valid
  JSON: every branch of the mix without the dedup stages (fast, default suite), then the whole
  recipe with dedup (slow: the semantic dedup loads a sentence-transformers model);
* the vLLM CPU engine with the tiny random model and JSON-schema constrained decoding (slow, vllm),
  the recipe changed only in its `engines:` block.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

import curate
from curate.testing.fault_server import FaultServer, json_schema_responder

REPO = Path(__file__).resolve().parents[3]
VENV = Path(os.environ.get("CURATE_VLLM_VENV", REPO / ".venvs" / "vllm"))
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "TOKENIZERS_PARALLELISM": "false"}
RECIPE = REPO / "recipes" / "nemotron4-prompts.yaml"
TASKS = {"open_qa", "writing", "closed_qa", "math", "code", "instruction_following", "two_turn"}

#: Small sizes: every branch runs, in seconds.
SMALL = {"stages.topics.with.domains": ["cooking", "rivers"], "stages.topics.with.topics_per_domain": 3,
         "stages.topics.with.subtopics_per_topic": 2, "stages.open-qa.with.limit": 6, "stages.writing.with.limit": 5,
         "stages.closed-qa.with.limit": 4, "stages.math.with.keywords_per_level": 2, "stages.math.with.limit": 5,
         "stages.python.with.keywords_per_level": 2, "stages.python.with.limit": 4,
         "stages.two-turn-questions.with.limit": 3, "stages.instruction-following-base.with.limit": 4,
         "stages.instruction-following.with.limit": 3}
COUNTS = {"open_qa": 6, "writing": 5, "closed_qa": 4, "math": 5, "code": 4, "instruction_following": 3, "two_turn": 3}


def tag(text: str) -> str:
    """A made-up word per text, so that different requests get different answers."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return "".join("bdfgklmnprstvz"[int(c, 16) % 14] + "aeiou"[int(c, 16) % 5] for c in digest[:6])


def items(prefix: str, n: int, seed: str) -> str:
    return json.dumps({"items": [f"{prefix} {k} {tag(seed + str(k))} {tag(seed + 'x' + str(k))}" for k in range(n)]})


def responder(body: dict, sample: int) -> str:
    """Answers each of the recipe's templates as a model would, in JSON; plain chats in prose."""
    text = body["messages"][0]["content"]
    if not body.get("response_format"):
        return f"Here is an answer about {tag(text)}: it depends on the details."  # generate.responses
    n = int(m.group(1)) if (m := re.search(r"\b(\d+) (?:distinct|different)", text)) else 1
    quoted = text.split('"')[1] if '"' in text else ""
    if "within the domain" in text:
        return items(f"{quoted} topic", n, text)
    if "belongs to the domain" in text:
        return items(f"{quoted} detail", n, text)
    if text.startswith(("Here is a question", "Here is a request")):
        key = "question" if text.startswith("Here is a question") else "task"
        return json.dumps({key: f"{text.split(chr(10) * 2)[1]} Answer in under {len(text) % 90 + 10} words."})
    if text.startswith("Read the text below"):
        return items("Based on the text, explain", n, text)
    if text.startswith("Is "):
        return json.dumps({"answer": "no" if quoted.startswith("keyword 0") and "Python" in text else "yes"})
    if text.startswith("Below is a conversation"):
        return json.dumps({"message": f"Could you give an example about {tag(text)}?"})
    if "keywords" in text:
        return items("keyword", n, text)
    n = int(text.split()[1]) if text.startswith("Write") and text.split()[1].isdigit() else n
    return items(f"Please {quoted}:", n, text)  # questions, writing tasks, problems


def mix_only(tmp_path: Path) -> Path:
    """The recipe without its dedup stages and its HF writer (they load heavy libraries): the
    JSONL writer merges the branches directly."""
    data = yaml.safe_load(RECIPE.read_text())
    data["stages"] = [s for s in data["stages"] if not s["use"].startswith("dedup.") and s["use"] != "write.hf"]
    writer = next(s for s in data["stages"] if s["id"] == "prompts")
    writer["inputs"] = ["open-qa", "writing", "math", "python", "instruction-following", "closed-qa", "two-turn"]
    shutil.copytree(RECIPE.parent / "data", tmp_path / "data")
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_in_venv(python: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **VLLM_ENV}
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, timeout=1800)


def openai_engine(base_url: str) -> dict:
    return {"engines.default": {"use": "openai", "model": "m", "base_url": base_url, "api_key_env": None,
                                "backoff_base": 0.01, "backoff_max": 0.05}}


def check_prompt_set(out: pl.DataFrame) -> None:
    """What every prompt set must satisfy: a task, a non-empty prompt or conversation, provenance."""
    assert set(out["task"]) == TASKS
    single = out.filter(pl.col("task") != "two_turn")
    assert single["prompt"].str.strip_chars().str.len_chars().min() > 0
    two = out.filter(pl.col("task") == "two_turn")
    assert all([m["role"] for m in msgs] == ["user", "assistant", "user"] for msgs in two["messages"].to_list())
    assert all(msgs[-1]["content"].strip() for msgs in two["messages"].to_list())
    closed = out.filter(pl.col("task") == "closed_qa")
    assert all(doc in prompt for doc, prompt in zip(closed["document"], closed["prompt"]))
    # Every generated row records the model, except single-turn constraint rows, which no model writes.
    modelled = out.filter(pl.col("task") != "instruction_following")
    assert all(json.loads(p)["model"] == "m" for p in modelled["prompt_generation"])
    constrained = out.filter(pl.col("task") == "instruction_following")
    assert all(len(ids) >= 1 for ids in constrained["instruction_id_list"].to_list())
    assert out["id"].n_unique() == out.height


def test_every_branch_through_the_openai_engine_and_a_local_server(tmp_path):
    recipe = mix_only(tmp_path)
    with FaultServer(responder=responder, models=["m"]) as srv:
        overrides = {**openai_engine(srv.base_url), **SMALL}
        result = curate.run(recipe, run_dir=tmp_path / "run", overrides=overrides)
        first = srv.stats()["chat_requests"]
        again = curate.run(recipe, run_dir=tmp_path / "run", overrides=overrides)
        bodies = srv.bodies
        assert srv.stats()["chat_requests"] == first  # the rerun is free: every stage reused
    out = result.outputs["prompts"]
    check_prompt_set(out)
    assert out.group_by("task").len().sort("task").rows() == sorted(COUNTS.items())
    assert again.outputs["prompts"].equals(out)
    # Structured requests carry the JSON schema; the answers to open questions do not.
    structured = [b for b in bodies if b.get("response_format")]
    assert structured and all(b["response_format"]["type"] == "json_schema" for b in structured)
    assert len(bodies) - len(structured) == COUNTS["two_turn"]
    # The screen said no to "keyword 0" of Python: a keyword screened out, counted.
    assert result.stats["python"].counters["keywords_screened_out"] >= 1
    open_qa = out.filter(pl.col("task") == "open_qa")
    assert (open_qa["prompt"] != open_qa["prompt_original"]).all()


@pytest.mark.slow
def test_whole_recipe_with_dedup_against_the_json_schema_server(tmp_path):
    shutil.copytree(RECIPE.parent / "data", tmp_path / "data")
    shutil.copy(RECIPE, tmp_path / RECIPE.name)
    with FaultServer(responder=json_schema_responder(3), models=["m"]) as srv:
        result = curate.run(tmp_path / RECIPE.name, run_dir=tmp_path / "run",
                            overrides={**openai_engine(srv.base_url), **SMALL})
    out = pl.read_ndjson(tmp_path / "run" / "prompts.jsonl")
    assert out.height == result.outputs["prompts"].height
    check_prompt_set(result.outputs["prompts"])
    assert (tmp_path / "run" / "prompts-hf" / "README.md").exists()
    for stage in ("single-turn", "fuzzy-dedup", "semantic-dedup", "closed-qa-dedup", "two-turn-dedup"):
        assert result.stats[stage].rows_in > 0, stage


@pytest.mark.slow
@pytest.mark.vllm
def test_recipe_on_the_vllm_cpu_engine_with_the_tiny_model(tmp_path):
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no vLLM venv at {VENV}: run scripts/setup-vllm-venv.sh")
    probe = run_in_venv(python, ["-c", "import curate_vllm, curate_synth, vllm"])
    if probe.returncode != 0:
        pytest.skip(f"the vLLM venv lacks curate-synth: pip install -e plugins/curate-synth there "
                    f"({probe.stderr.strip()[-200:]})")
    model = tmp_path / "tiny-llama"
    built = run_in_venv(python, ["-c", f"from curate.testing.tiny_model import build_tiny_llama; "
                                       f"build_tiny_llama({str(model)!r})"])
    assert built.returncode == 0, built.stderr[-2000:]
    # The whole recipe where the venv has the dedup and HF plugins, else every generation stage.
    whole = run_in_venv(python, ["-c", "import curate_dedup, sentence_transformers, faiss, datasets"]).returncode == 0
    recipe = RECIPE if whole else mix_only(tmp_path)
    if whole:
        shutil.copytree(RECIPE.parent / "data", tmp_path / "data")
    # Only the engines block changes.
    engines = f"engines:\n  default: {{use: vllm, model: '{model}', max_model_len: 2048, enforce_eager: true}}\n"
    text = re.sub(r"^engines:\n(?:  .*\n)+", engines, recipe.read_text(), flags=re.M)
    assert engines in text
    (tmp_path / "recipe.yaml").write_text(text)
    sets = [f"{k}={json.dumps(v)}" for k, v in SMALL.items()]
    # A random model writes until it is stopped: bound the texts (the JSON schema's maxLength and
    # maxItems, which constrained decoding obeys) and the answers, so that the test stays short.
    bounded = ("open-qa", "writing", "closed-qa", "math", "python", "two-turn-questions", "two-turn")
    sets += [f"stages.{s}.with.{k}={v}" for s in bounded for k, v in (("max_item_chars", 40), ("max_tokens", 160))]
    sets += ["stages.topics.with.max_tokens=256", "stages.two-turn-answers.with.max_tokens=32"]
    args = ["-m", "curate", "run", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet"]
    proc = run_in_venv(python, args + [a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stderr[-4000:]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["complete"]
    out = pl.read_ndjson(tmp_path / "run" / "prompts.jsonl")
    # A random model's texts are noise, but every row is a prompt of some branch, never empty.
    assert out.height > 0 and out["task"].is_not_null().all() and set(out["task"]) <= TASKS
    single = out.filter(pl.col("task") != "two_turn")
    assert single.height == 0 or single["prompt"].str.strip_chars().str.len_chars().min() > 0
    requests = sum(s["stats"]["counters"].get("requests_sent", 0) for s in manifest["stages"])
    assert requests > 20
