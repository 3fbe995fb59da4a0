import json

import polars as pl
import pytest

import curate
from curate.engine import ChatRequest, EngineError, SamplingParams
from curate_transformers import TransformersEngine


@pytest.fixture(scope="module")
def engine(tiny_model):
    eng = TransformersEngine(model=str(tiny_model), batch_size=4, max_model_len=256)
    eng.start()
    yield eng
    eng.close()


def _req(i, text="Tell me about the library.", **sampling):
    return ChatRequest(f"r{i}", [{"role": "user", "content": text}], SamplingParams(**{"max_tokens": 8, **sampling}))


def test_batched_generation_with_n_samples(engine):
    seen = []
    results = engine.generate([_req(i, n=2, temperature=1.0, seed=3) for i in range(5)], on_result=seen.append)
    assert [r.id for r in results] == [f"r{i}" for i in range(5)]
    assert len(seen) == 5 and all(r.ok and len(r.completions) == 2 for r in results)
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 for r in results)
    assert all(c.finish_reason in ("stop", "length") for r in results for c in r.completions)


def test_greedy_is_deterministic(engine):
    a = engine.generate([_req(0, temperature=0)])[0].completions[0].text
    b = engine.generate([_req(1, temperature=0)])[0].completions[0].text
    assert a == b


def test_too_long_prompt_fails_alone(engine):
    long = "word " * 400
    results = engine.generate([_req(0), _req(1, text=long), _req(2)])
    assert results[0].ok and results[2].ok
    assert not results[1].ok and "exceeds the context length 256" in results[1].error


def test_identity_has_chat_template_not_batch_size(engine):
    ident = engine.identity()
    assert ident["model"] == engine.params.model and "chat_template" in ident and "batch_size" not in ident


def test_missing_model_is_clear(tmp_path):
    with pytest.raises(EngineError, match="could not load model"):
        TransformersEngine(model=str(tmp_path / "nope")).start()


def test_recipe_through_transformers_engine(tiny_model, tmp_path):
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}) for p in ["Hi there", "What is bread?"]))
    (tmp_path / "r.yaml").write_text(
        "name: tf\nengines:\n  default: {use: transformers, model: MODEL, max_model_len: 256}\nstages:\n"
        "  - use: read.jsonl\n    with: {path: prompts.jsonl}\n"
        "  - use: generate.responses\n    with: {n: 2, max_tokens: 6, seed: 1}\n"
        "  - use: write.jsonl\n    with: {path: sft.jsonl, format: sft}\n")
    result = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", overrides={"engines.default.model": str(tiny_model)})
    out = result.outputs["write.jsonl"]
    assert out.height == 4 and out["provenance"].struct.field("generation").struct.field("model").unique().to_list() == [str(tiny_model)]
    assert result.stats["generate.responses"].counters["requests_sent"] == 2
    # A rerun with a changed stage param reruns the stage but finds every request in the cache.
    again = curate.run(tmp_path / "r.yaml", run_dir=tmp_path / "run", overrides={
        "engines.default.model": str(tiny_model), "stages.generate.responses.with.output": "list",
        "stages.write.jsonl.with.format": "raw"})
    assert again.stats["generate.responses"].counters == {"requests_cached": 2}
    assert pl.read_ndjson(tmp_path / "run" / "sft.jsonl")["responses"].list.len().to_list() == [2, 2]


def test_sft_writer_after_list_output_fails_validation(tiny_model, tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "x"}))
    recipe = curate.Recipe(name="v", engines={"default": {"use": "transformers", "model": str(tiny_model)}}, stages=[
        curate.Stage(use="read.jsonl", **{"with": {"path": "p.jsonl"}}),
        curate.Stage(use="generate.responses", **{"with": {"output": "list"}}),
        curate.Stage(use="write.jsonl", **{"with": {"path": "o.jsonl", "format": "sft"}}),
    ]).with_base_dir(tmp_path)
    with pytest.raises(curate.RecipeError, match="needs column 'response' or 'messages'"):
        curate.run(recipe, run_dir=tmp_path / "run")
