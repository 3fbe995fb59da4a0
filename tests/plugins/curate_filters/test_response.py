"""filter.response: empty, truncated, prompt-repeating and refusal/boilerplate responses."""

from __future__ import annotations

import polars as pl
import pytest

import curate
from curate.testing import run_stage


def reasons(df: pl.DataFrame, **params) -> list[str | None]:
    df = df.with_columns(pl.int_range(pl.len()).cast(pl.String).alias("id"))
    out = run_stage("filter.response", df, **params, action="flag")
    return out.kept.sort(pl.col("id").cast(pl.Int64))["response_reason"].to_list()


def test_empty_and_truncated():
    df = pl.DataFrame({"prompt": ["q1", "q2", "q3", "q4"], "response": ["fine answer", "  \n", None, "cut off mid"],
                       "finish_reason": ["stop", "stop", "stop", "length"]})
    assert reasons(df) == [None, "empty response", "empty response", "truncated response (finish_reason: length)"]
    assert reasons(df, empty=False, truncated=False) == [None, None, None, None]


def test_truncation_check_needs_the_column():
    df = pl.DataFrame({"prompt": ["q"], "response": ["an answer"]})
    assert reasons(df) == [None]


def test_repeats_the_prompt_exactly_or_mostly():
    df = pl.DataFrame({
        "prompt": ["What is the capital of France?", "Tell me a joke about cats please",
                   "Summarize: the cat sat on the mat and looked at the dog", "Hi"],
        "response": ["Paris is the capital of France.", "tell me a JOKE about cats, please!",
                     "The cat sat on the mat and looked at the dog.", "hi"],
    })
    assert reasons(df) == [
        None,  # 3 of 4 word 3-grams are in the prompt: 0.75 <= 0.9
        "response repeats the prompt",
        "response repeats the prompt (1.0 of its word 3-grams are in the prompt > 0.9)",
        "response repeats the prompt",  # exact, however short
    ]
    assert reasons(df, max_prompt_overlap=0.5)[0] == (
        "response repeats the prompt (0.75 of its word 3-grams are in the prompt > 0.5)")
    assert reasons(df, max_prompt_overlap=None) == [None] * 4


def test_prompt_from_messages():
    df = pl.DataFrame({"messages": [[{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Name three colors"}]],
                       "response": ["name three colors"]})
    assert reasons(df) == ["response repeats the prompt"]


def test_refusal_and_boilerplate_phrases():
    df = pl.DataFrame({"prompt": ["a", "b", "c", "d"], "response": [
        "I’m sorry, but I can’t   help with that request.",
        "Sure. As an AI language model, I do not have opinions.",
        "Here is the recipe you asked for.",
        "The sky is blue because of Rayleigh scattering.",
    ]})
    assert reasons(df) == ["refusal or boilerplate: 'i'm sorry, but i can't'",
                           "refusal or boilerplate: 'as an ai language model'", None, None]
    assert reasons(df, extra_phrases=["Rayleigh Scattering"])[3] == "refusal or boilerplate: 'rayleigh scattering'"
    replaced = reasons(df, phrases=["here is the recipe"])
    assert replaced == [None, None, "refusal or boilerplate: 'here is the recipe'", None]
    assert reasons(df, phrases=[]) == [None] * 4


def test_rules_are_checked_in_order():
    df = pl.DataFrame({"prompt": ["x"], "response": ["As an AI language model"], "finish_reason": ["length"]})
    assert reasons(df) == ["truncated response (finish_reason: length)"]


def test_bad_input():
    with pytest.raises(curate.RecipeError, match="phrases must not be empty"):
        run_stage("filter.response", pl.DataFrame({"prompt": ["q"], "response": ["r"]}), extra_phrases=[" "])
    with pytest.raises(curate.DataError, match="has type Int64, which is not text"):
        run_stage("filter.response", pl.DataFrame({"prompt": ["q"], "response": [3]}))
    long = "word " * 100_000
    assert reasons(pl.DataFrame({"prompt": ["q"], "response": [long]})) == [None]
