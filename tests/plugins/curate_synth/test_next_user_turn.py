"""generate.next_user_turn: the user's next turn after (user, assistant), so responses can answer it."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage


def model(req):
    text = req.messages[0]["content"]
    if text.startswith("Below is a conversation"):
        last = text.split("Assistant: ")[-1].split("\n\n")[0]
        if "silent" in last:
            return json.dumps({"message": "User:  "})  # only a role label: nothing left
        return json.dumps({"message": f"User: Can you say more about {last.split()[0].lower()}?"})
    return f"answer to: {req.messages[-1]['content']}"  # generate.responses


def test_prompt_and_response_become_messages_with_the_next_user_turn():
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": ["What is yeast?", "And rivers?", "Quiet?"],
                       "response": ["Fungi that ferment.", None, "silent reply"], "prompt_id": ["p", "q", "r"],
                       "topic": ["bread", "rivers", "x"]})
    out = run_stage("generate.next_user_turn", df, engines={"default": ScriptedEngine(default=model, model="m")})
    row = out.kept.row(0, named=True)
    assert row["id"] == "a/two_turn/0" and row["task"] == "two_turn" and row["topic"] == "bread"
    assert row["messages"] == [{"role": "user", "content": "What is yeast?"},
                               {"role": "assistant", "content": "Fungi that ferment."},
                               {"role": "user", "content": "Can you say more about fungi?"}]  # label removed
    assert not {"prompt", "response", "prompt_id"} & set(out.kept.columns)
    assert json.loads(row["prompt_generation"])["inputs"] == {"conversation_id": "a", "turns": 2}
    reasons = dict(zip(out.removed["id"].to_list(), out.removed["reason"].to_list()))
    assert reasons["b"].startswith("a turn of the conversation is missing")
    assert reasons["c"].startswith("next user turn failed: only a role label")


def test_messages_input_must_end_with_the_assistant():
    conv = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello there"}],
            [{"role": "user", "content": "Hi"}]]
    df = pl.DataFrame({"id": ["x", "y"], "messages": conv}, schema={"id": pl.Utf8, "messages": curate.MESSAGES})
    out = run_stage("generate.next_user_turn", df, engines={"default": ScriptedEngine(default=model)})
    assert [m["role"] for m in out.kept["messages"][0]] == ["system", "user", "assistant", "user"]
    assert out.removed["reason"].to_list() == ["the conversation ends with a 'user' turn, not the assistant's"]


def test_without_a_response_it_says_what_to_run_first():
    with pytest.raises(curate.DataError, match="generate.responses first"):
        run_stage("generate.next_user_turn", pl.DataFrame({"id": ["a"], "prompt": ["Hi"]}),
                  engines={"default": ScriptedEngine(default=model)})


def test_generate_responses_answers_the_new_turn(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "What is yeast?"}, {"prompt": "Why do bees dance?"}], "prompts.jsonl")
    recipe = write_recipe("""name: two-turn
engines:
  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
stages:
  - use: read.jsonl
    with: {path: prompts.jsonl}
  - use: generate.responses
  - use: generate.next_user_turn
  - id: second
    use: generate.responses
  - use: write.jsonl
    with: {path: sft.jsonl, format: sft}
""")
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={"default": ScriptedEngine(default=model)})
    sft = result.outputs["write.jsonl"]
    turns = sft["messages"][0]
    assert [m["role"] for m in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[3]["content"] == f"answer to: {turns[2]['content']}"
    assert turns[2]["content"].startswith("Can you say more about")
