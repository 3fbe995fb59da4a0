"""generate.closed_qa: instructions grounded in documents from any reader; the prompt includes the document."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine

DOCS = [
    {"id": "bees", "title": "Bees", "text": "A forager bee dances to show where flowers are. The angle gives the "
                                            "direction and the length of the run gives the distance."},
    {"id": "canal", "title": "Canal", "text": "The canal had twenty-two locks and carried coal until 1926."},
    {"id": "blank", "title": "Blank", "text": "   "},
    {"id": "long", "title": "Long", "text": "word " * 500},
]


def model(req):
    text = req.messages[0]["content"]
    document = text.split('"""')[1].strip()
    kinds = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    if "canal" in document:
        return "Sorry, I cannot help with that."
    return json.dumps({"items": [f"Instruction {k} ({kind}) about: {document.split()[1]}"
                                 for k, kind in enumerate(kinds)]})


def recipe(reader, path, **params):
    return f"""name: cqa
engines:
  default: {{use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}}
stages:
  - use: {reader}
    with: {{path: {path}}}
  - id: closed
    use: generate.closed_qa
    with: {json.dumps({"max_document_chars": 1000, "max_reasks": 0, **params})}
"""


def test_prompt_renders_document_and_instruction_and_keeps_the_pairing(tmp_path, write_jsonl, write_recipe):
    write_jsonl(DOCS, "docs.jsonl")
    engine = ScriptedEngine(default=model, model="m")
    result = curate.run(write_recipe(recipe("read.jsonl", "docs.jsonl", instructions_per_document=2)),
                        run_dir=tmp_path / "run", engines={"default": engine})
    out = result.rundir.output("closed")
    assert out["id"].to_list() == ["bees/closed_qa/0", "bees/closed_qa/1"]
    row = out.row(0, named=True)
    assert row["document"] == DOCS[0]["text"] and row["document_id"] == "bees" and row["title"] == "Bees"
    assert row["instruction"].startswith("Instruction 0 (") and row["task"] == "closed_qa"
    assert row["prompt"] == f"{row['document']}\n\n{row['instruction']}"
    assert "text" not in out.columns  # the document is in `document` once
    prov = json.loads(row["prompt_generation"])
    assert prov["inputs"]["document_id"] == "bees" and len(prov["inputs"]["instruction_types"]) == 2
    assert set(prov["templates"]) == {"closed_qa_instructions", "closed_qa_prompt"}
    removed = result.rundir.removed("closed")
    reasons = dict(zip(removed["id"].to_list(), removed["reason"].to_list()))
    assert reasons["blank"] == "empty document ('text')"
    assert reasons["long"].startswith("document of 2500 characters, longer than max_document_chars")
    assert reasons["canal"].startswith("instructions failed")
    # Two instruction kinds drawn per document, named in the request.
    asked = engine.history[0].messages[0]["content"]
    assert sum(line.startswith("- ") for line in asked.splitlines()) == 2 and DOCS[0]["text"] in asked


def test_document_column_from_a_parquet_reader(tmp_path, write_recipe):
    pl.DataFrame([{"doc_id": 7, "body": d["text"]} for d in DOCS[:1]]).write_parquet(tmp_path / "docs.parquet")
    result = curate.run(write_recipe(recipe("read.parquet", "docs.parquet", document_column="body",
                                            document_id_column="doc_id")),
                        run_dir=tmp_path / "run", engines={"default": ScriptedEngine(default=model)})
    out = result.rundir.output("closed")
    assert out["document_id"].unique().to_list() == ["7"] and "body" not in out.columns


def test_missing_document_column_fails_validation_naming_it(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"id": "a", "body": "x"}], "docs.jsonl")
    with pytest.raises(curate.RecipeError, match="'text'"):
        curate.run(write_recipe(recipe("read.jsonl", "docs.jsonl")), dry_run=True)


def test_missing_document_column_at_run_time_is_a_data_error():
    from curate_synth.closed_qa import ClosedQA

    stage = ClosedQA({"document_column": "body"})
    stage.setup(curate.StageContext(curate.StageInfo("s", "r", ".", ".", ".")))
    with pytest.raises(curate.DataError, match="no column 'body'"):
        stage.process_batch(pl.DataFrame({"id": ["a"], "text": ["x"]}))
