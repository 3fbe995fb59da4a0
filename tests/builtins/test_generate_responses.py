import json

import polars as pl

import curate
from curate.testing import ScriptedEngine, run_stage

PROMPTS = pl.DataFrame({"id": ["a", "b"], "prompt": ["hi", "yo"]})


def test_n_responses_per_engine_with_provenance():
    engines = {"default": ScriptedEngine(default=lambda r: "A:" + r.messages[-1]["content"], model="m-a"),
               "other": ScriptedEngine(default=lambda r: "B:" + r.messages[-1]["content"], model="m-b")}
    out = run_stage("generate.responses", PROMPTS, engines=engines, with_={"engines": ["default", "other"], "n": 2,
                                                                           "temperature": 0.9, "seed": 7})
    kept = out.kept
    assert kept.height == 8
    assert sorted(kept.filter(pl.col("prompt_id") == "a")["response"].to_list()) == ["A:hi", "A:hi", "B:hi", "B:hi"]
    gen = kept.filter(pl.col("id") == "a/other/1")["generation"].to_list()[0]
    assert gen["engine"] == "other" and gen["model"] == "m-b" and gen["stage"] == "stage"
    assert json.loads(gen["sampling"]) == {"n": 2, "temperature": 0.9, "top_p": 1.0, "max_tokens": 512, "seed": 7}
    request = engines["default"].history[0]
    assert request.sampling.n == 2 and request.messages == [{"role": "user", "content": "hi"}]


def test_failed_request_is_removed_with_reason_not_empty_text():
    engine = ScriptedEngine(default=lambda r: ValueError("prompt too long") if r.messages[-1]["content"] == "yo" else "ok")
    out = run_stage("generate.responses", PROMPTS, engines={"default": engine})
    assert out.kept["response"].to_list() == ["ok"]
    assert out.removed["id"].to_list() == ["b"]
    assert "prompt too long" in out.removed["reason"][0]
    assert out.result.stats["stage"].counters["requests_failed"] == 1


def test_system_prompt_and_conversations():
    msgs = [[{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]]
    engine = ScriptedEngine(["r"])
    out = run_stage("generate.responses", pl.DataFrame({"id": ["c"], "messages": msgs}), engines={"default": engine},
                    system_prompt="be kind")
    assert [m["role"] for m in engine.history[0].messages] == ["system", "user", "assistant", "user"]
    assert out.kept["messages"].to_list()[0][-1]["content"] == "q2"


def test_list_output():
    out = run_stage("generate.responses", PROMPTS, engines={"default": ScriptedEngine(default="x")}, n=3, output="list")
    assert out.kept["responses"].to_list() == [["x"] * 3, ["x"] * 3]


def test_cached_requests_are_not_sent_again(tmp_path):
    engine = ScriptedEngine(default=lambda r: "resp")
    run_stage("generate.responses", PROMPTS, engines={"default": engine}, run_dir=tmp_path)
    assert len(engine.history) == 2
    # A new stage fingerprint (changed max_tokens) with the same requests would miss; same requests hit.
    out = run_stage("generate.responses", PROMPTS, engines={"default": engine}, run_dir=tmp_path, with_={"n": 1})
    assert len(engine.history) == 2 and out.kept.height == 2


def test_recipe_with_generation_writes_sft(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "hello"}])
    recipe = write_recipe("name: g\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: generate.responses\n  - use: write.jsonl\n    with: {path: sft.jsonl, format: sft}\n")
    result = curate.run(recipe, run_dir=tmp_path / "r", engines={"default": ScriptedEngine(["world"])})
    row = result.outputs["write.jsonl"]
    sft = json.loads((tmp_path / "r" / "sft.jsonl").read_text())
    # The result holds the rows as written (the SFT format), not the working columns.
    assert row.columns == list(sft) and row["messages"].to_list()[0][-1] == {"role": "assistant", "content": "world"}
    assert sft["messages"][-1] == {"role": "assistant", "content": "world"}
    assert sft["provenance"]["generation"]["model"] == "scripted"
