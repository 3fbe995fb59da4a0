"""generate.dialogue: persona role play, cleaned user turns, stop rules, two engines."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage

from curate_synth.dialogue import clean_user_turn, repeats


def user_model(req):
    """Plays the user: a follow-up on the assistant's last answer, dressed in filler and labels."""
    text = req.messages[-1]["content"]
    last = text.split("Assistant: ")[-1].split("\n\n")[0]
    if "bees" in text:
        return json.dumps({"message": "Thank you so much!"})  # nothing but filler: an empty turn
    if "rivers" in text:
        return json.dumps({"message": "User: Why do rivers flow?"})  # repeats the first turn
    k = text.count("Assistant: ")
    ask = ["Where does it come from", "How is it used today", "Which risks come with it"][k - 1]
    return json.dumps({"message": f"User: Thanks! {ask}, {last.split()[-1]}"})


def assistant_model(req):
    return f"answer {sum(m['role'] == 'user' for m in req.messages)}: {req.messages[-1]['content'].split()[-1]}"


def prompts():
    return pl.DataFrame({"id": ["a", "b", "c"], "prompt": ["What is yeast?", "Why do bees dance?", "Why do rivers flow?"],
                        "topic": ["bread", "bees", "rivers"], "response": ["old", "old", "old"]})


def test_three_turn_dialogues_with_two_engines_and_cleaned_user_turns():
    user, assistant = ScriptedEngine(default=user_model, model="u"), ScriptedEngine(default=assistant_model, model="a")
    personas = ["a curious baker", "a retired sailor"]
    out = run_stage("generate.dialogue", prompts(), engines={"user": user, "gen": assistant},
                    user_engine="user", assistant_engine="gen", personas=personas)
    row = out.kept.row(0, named=True)
    assert row["id"] == "a/dialogue/0" and row["task"] == "dialogue" and row["topic"] == "bread"
    assert "prompt" not in out.kept.columns and "response" not in out.kept.columns
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * 3
    turns = [m["content"] for m in row["messages"]]
    assert turns == ["What is yeast?", "answer 1: yeast?", "Where does it come from, yeast?",  # label, "Thanks!" gone
                     "answer 2: yeast?", "How is it used today, yeast?", "answer 3: yeast?"]
    prov = json.loads(row["prompt_generation"])
    assert prov["inputs"]["persona"] in personas and prov["inputs"]["user_turns"] == 3
    assert (prov["inputs"]["user_model"], prov["inputs"]["assistant_model"]) == ("u", "a")
    # the user engine only played the user (with the persona), the assistant engine only answered
    assert all(r.messages[0]["content"].startswith("You are role-playing") for r in user.history)
    assert prov["inputs"]["persona"] in user.history[0].messages[0]["content"]
    assert not any("role-playing" in m["content"] for r in assistant.history for m in r.messages)
    reasons = dict(zip(out.removed["id"].to_list(), out.removed["reason"].to_list()))
    assert reasons["b"].startswith("dialogue stopped after 1 of 3 user turns: user turn 2 is empty once cleaned")
    assert reasons["c"].startswith("dialogue stopped after 1 of 3 user turns: user turn 2 repeats an earlier one")
    assert out.result.stats["stage"].counters["empty_user_turns"] == 1


def test_min_turns_keeps_shorter_dialogues_and_token_budget_stops():
    engine = ScriptedEngine(default=lambda r: user_model(r) if "role-playing" in r.messages[-1]["content"]
                            else assistant_model(r))
    out = run_stage("generate.dialogue", prompts(), engines={"default": engine}, min_turns=1,
                    max_conversation_tokens=20)
    kept = {r["id"]: r["messages"] for r in out.kept.iter_rows(named=True)}
    assert [m["role"] for m in kept["b/dialogue/0"]] == ["user", "assistant"]  # stopped, kept: one turn is enough
    # "a" went on until an answer made the conversation longer than 20 words (the scripted engine's tokens)
    assert len(kept["a/dialogue/0"]) == 4
    prov = json.loads(out.kept.filter(pl.col("id") == "a/dialogue/0")["prompt_generation"][0])
    assert "max_conversation_tokens: 20" in prov["inputs"]["stopped"]


def test_failed_first_answer_and_a_prompt_ending_with_the_assistant_are_removed():
    engine = ScriptedEngine(default=lambda r: RuntimeError("down") if "yeast" in r.messages[-1]["content"] else "ok")
    df = pl.DataFrame({"id": ["a", "b"], "messages": [[{"role": "user", "content": "What is yeast?"}],
                                                      [{"role": "user", "content": "Hi"},
                                                       {"role": "assistant", "content": "Hello"}]]},
                      schema={"id": pl.Utf8, "messages": curate.MESSAGES})
    out = run_stage("generate.dialogue", df, engines={"default": engine})
    assert out.kept.height == 0
    reasons = out.removed["reason"].to_list()
    assert reasons[0] == "dialogue stopped after 0 of 3 user turns: assistant turn 1 failed: RuntimeError: down"
    assert reasons[1] == "the conversation ends with a 'assistant' turn, not the user's"


@pytest.mark.parametrize("personas, error", [("[]", "personas"), ("['  ']", "a persona is empty")])
def test_empty_persona_list_fails_validation(personas, error, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "Hi"}], "p.jsonl")
    recipe = write_recipe(f"""name: d
engines:
  default: {{use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}}
stages:
  - use: read.jsonl
    with: {{path: p.jsonl}}
  - use: generate.dialogue
    with: {{personas: {personas}}}
""")
    with pytest.raises(curate.RecipeError, match=error):
        curate.run(recipe, dry_run=True)


def test_cleaning_and_repetition():
    assert clean_user_turn("**User:** Great, thanks! How about Y? Thanks again.") == "How about Y?"
    assert clean_user_turn("That makes sense. Why?\nAssistant: Because.") == "Why?"
    assert clean_user_turn("I appreciate it. Thank you for the help!") == ""
    assert clean_user_turn("Thanks, but what about cats?") == "Thanks, but what about cats?"  # a request stays
    assert clean_user_turn("Line one\nline two?") == "Line one\nline two?"
    assert repeats("why do RIVERS flow", ["Why do rivers flow?"], 0.9)
    assert not repeats("Why do lakes freeze?", ["Why do rivers flow?"], 0.9)
