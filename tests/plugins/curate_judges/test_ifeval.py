"""curate_judges.ifeval: the catalog (ids, kwargs schemas, conflicts), the checking API, and the
judge.instruction_following stage (columns, bad rows removed with reasons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import polars as pl
import pytest

import curate
from curate.testing import run_stage

from ..conftest import registered

#: The instruction ids IFEval's reference registers, in its order (the brief's contract).
IFEVAL_IDS = [
    "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "keywords:letter_frequency",
    "language:response_language", "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "detectable_format:json_format", "detectable_format:title", "combination:two_responses",
    "combination:repeat_prompt", "startend:end_checker", "change_case:capital_word_frequency",
    "change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma", "startend:quotation",
]
META = json.loads(Path(__file__).parent.joinpath("data", "ifeval_cases.jsonl").read_text().splitlines()[0])["meta"]


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "judge.instruction_following", "judge", "curate-judges"):
        yield


@pytest.fixture(scope="module")
def ifeval():
    from curate_judges import ifeval

    return ifeval


# --- the catalog -----------------------------------------------------------------------------------

def test_the_catalog_has_every_reference_id_in_its_order(ifeval):
    assert list(ifeval.CATALOG) == IFEVAL_IDS == META["instruction_ids"]
    assert ifeval.INSTRUCTION_IDS == tuple(IFEVAL_IDS)


def test_every_instruction_says_what_it_asks_and_describes_its_kwargs(ifeval):
    for spec in ifeval.CATALOG.values():
        assert spec.summary and spec.group == spec.id.split(":")[0]
        schema = spec.kwargs_schema()
        assert list(schema["properties"]) == [a.name for a in spec.args]
        assert all(p["description"] for p in schema["properties"].values())
        assert set(schema["required"]) <= set(schema["properties"]) and schema["additionalProperties"] is False


def test_kwargs_names_and_allowed_values(ifeval):
    names = {i: list(spec.arg_names) for i, spec in ifeval.CATALOG.items() if spec.args}
    assert names == {
        "keywords:existence": ["keywords"], "keywords:frequency": ["keyword", "frequency", "relation"],
        "keywords:forbidden_words": ["forbidden_words"],
        "keywords:letter_frequency": ["letter", "let_frequency", "let_relation"],
        "language:response_language": ["language"],
        "length_constraints:number_sentences": ["num_sentences", "relation"],
        "length_constraints:number_paragraphs": ["num_paragraphs"],
        "length_constraints:number_words": ["num_words", "relation"],
        "length_constraints:nth_paragraph_first_word": ["num_paragraphs", "nth_paragraph", "first_word"],
        "detectable_content:number_placeholders": ["num_placeholders"],
        "detectable_content:postscript": ["postscript_marker"],
        "detectable_format:number_bullet_lists": ["num_bullets"],
        "detectable_format:number_highlighted_sections": ["num_highlights"],
        "detectable_format:multiple_sections": ["section_spliter", "num_sections"],
        "combination:repeat_prompt": ["prompt_to_repeat"], "startend:end_checker": ["end_phrase"],
        "change_case:capital_word_frequency": ["capital_frequency", "capital_relation"],
    }
    relation = ifeval.CATALOG["keywords:frequency"].args[2]
    assert relation.choices == ("less than", "at least") == ifeval.RELATIONS
    assert relation.json_schema()["enum"] == ["less than", "at least"]
    language = ifeval.CATALOG["language:response_language"].args[0]
    assert len(language.choices) == 30 and "kn" in language.choices and "zh" not in language.choices


def test_validate_drops_nulls_and_checks_types(ifeval):
    hf_style = {"num_words": 300, "relation": "at least", "keywords": None, "language": None}
    assert ifeval.validate("length_constraints:number_words", hf_style) == {"num_words": 300, "relation": "at least"}
    assert ifeval.validate("length_constraints:number_words", {"num_words": 300.0, "relation": "at least"}) == \
        {"num_words": 300, "relation": "at least"}
    assert ifeval.validate("punctuation:no_comma", None) == {} == ifeval.validate("punctuation:no_comma", {})
    for bad, message in [({"num_words": True, "relation": "at least"}, "must be an integer"),
                         ({"num_words": 2.5, "relation": "at least"}, "must be an integer"),
                         ({"num_words": -1, "relation": "at least"}, "at least 0"),
                         ({"num_words": 3, "relation": "at most"}, "must be one of"),
                         ({"num_words": 3}, "missing kwarg 'relation'"),
                         ({"num_words": 3, "relation": "at least", "extra": 1}, "unexpected kwargs 'extra'")]:
        with pytest.raises(ifeval.InvalidKwargs, match=message):
            ifeval.validate("length_constraints:number_words", bad)
    with pytest.raises(ifeval.UnknownInstruction, match="did you mean 'punctuation:no_comma'"):
        ifeval.validate("punctuation:no_commas", {})
    with pytest.raises(ifeval.InvalidKwargs, match="regular expression"):
        ifeval.validate("keywords:existence", {"keywords": ["ok", "[unclosed"]})
    with pytest.raises(ifeval.InvalidKwargs, match="nth_paragraph \\(4\\) must be at most num_paragraphs"):
        ifeval.validate("length_constraints:nth_paragraph_first_word",
                        {"num_paragraphs": 3, "nth_paragraph": 4, "first_word": "so"})


def test_conflicts_are_the_references_table(ifeval):
    ours = {i: sorted(ifeval.conflicts_with(i)) for i in ifeval.INSTRUCTION_IDS}
    assert ours == META["conflicts"]  # labelled with the reference's conflict_make
    for a in ifeval.INSTRUCTION_IDS:
        assert ifeval.conflicts(a, a)
        for b in ifeval.INSTRUCTION_IDS:
            assert ifeval.conflicts(a, b) == ifeval.conflicts(b, a)
    assert ifeval.conflicts("detectable_format:json_format", "startend:quotation")
    assert not ifeval.conflicts("detectable_format:json_format", "keywords:existence")
    assert ifeval.conflicts("change_case:english_capital", "change_case:english_lowercase")
    assert ifeval.conflicting_pairs(["punctuation:no_comma", "detectable_format:title", "keywords:existence"]) == []
    assert ifeval.conflicting_pairs(["startend:quotation", "punctuation:no_comma", "detectable_format:title"]) == [
        ("startend:quotation", "detectable_format:title")]
    with pytest.raises(ifeval.UnknownInstruction):
        ifeval.conflicts("punctuation:no_comma", "nope")


# --- checking ------------------------------------------------------------------------------------

def test_loose_mode_tries_eight_variants(ifeval):
    assert ifeval.loose_variants("Sure:\n*a*\nbye") == ["Sure:\n*a*\nbye", "Sure:\na\nbye", "*a*\nbye", "Sure:\n*a*",
                                                       "*a*", "a\nbye", "Sure:\na", "a"]
    response = "Sure, here is the JSON:\n{\"a\": 1}"
    assert not ifeval.check("detectable_format:json_format", response)
    assert ifeval.check("detectable_format:json_format", response, loose=True)


def test_a_blank_response_follows_nothing(ifeval):
    for response in ("", "  \n "):
        verdict = ifeval.evaluate(["punctuation:no_comma", "detectable_format:title"], response, [{}, {}])
        assert verdict.strict == verdict.loose == [False, False]


def test_evaluate_aligns_verdicts_with_the_ids(ifeval):
    verdict = ifeval.evaluate(["punctuation:no_comma", "startend:quotation", "detectable_format:title"],
                              '"No commas here"', [{}, {}, {}])
    assert verdict.strict == [True, True, False] and not verdict.all_strict
    assert ifeval.evaluate(["punctuation:no_comma"], "ok", [{}]).all_loose
    with pytest.raises(ifeval.InvalidKwargs, match="2 instruction ids but 1 kwargs"):
        ifeval.evaluate(["punctuation:no_comma", "startend:quotation"], "x", [{}])
    with pytest.raises(ifeval.InvalidKwargs, match=r"kwargs\[1\] of 'keywords:frequency'"):
        ifeval.evaluate(["punctuation:no_comma", "keywords:frequency"], "x", [{}, {"keyword": "a"}])


def test_repeat_prompt_falls_back_to_the_prompt(ifeval):
    prompt, response = "Write a haiku about rain.", "Write a haiku about rain. Drops fall on the roof."
    assert ifeval.check("combination:repeat_prompt", response, {}, prompt=prompt)
    assert ifeval.check("combination:repeat_prompt", response, {}, prompt=prompt) == ifeval.check(
        "combination:repeat_prompt", response, {"prompt_to_repeat": prompt})
    assert not ifeval.check("combination:repeat_prompt", "Drops fall.", {}, prompt=prompt)
    # an explicit prompt_to_repeat wins over the prompt
    assert ifeval.check("combination:repeat_prompt", "Say hi. Hi!", {"prompt_to_repeat": "Say hi."}, prompt=prompt)
    with pytest.raises(ifeval.InvalidKwargs, match="prompt_to_repeat"):
        ifeval.check("combination:repeat_prompt", response, {})


def test_language_verdicts_are_seeded(ifeval):
    # langdetect samples n-grams at random: on "the pizza" seeds 0 and 7 disagree (it / en), so
    # the seed decides, and a fixed seed gives one answer every time.
    check = ifeval.check
    assert {check("language:response_language", "the pizza", {"language": "it"}) for _ in range(4)} == {True}
    assert not check("language:response_language", "the pizza", {"language": "it"}, seed=7)
    assert check("language:response_language", "the pizza", {"language": "en"}, seed=7)
    assert check("language:response_language", "12345 678", {"language": "fr"})  # nothing to detect: passes


# --- the judge stage -------------------------------------------------------------------------------

def _frame(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({"id": [f"r{i}" for i in range(n)], **columns})


def test_stage_writes_aligned_verdicts_from_native_list_columns():
    df = _frame(
        prompt=["p1", "p2"],
        response=['"Hello world"', "Sure!\n<<Title>>\nText, with a comma."],
        instruction_id_list=[["startend:quotation", "punctuation:no_comma", "length_constraints:number_words"],
                             ["detectable_format:title", "punctuation:no_comma", "length_constraints:number_words"]],
        kwargs=[[{"num_words": None, "relation": None}, {"num_words": None, "relation": None},
                 {"num_words": 3, "relation": "less than"}],
                [{"num_words": None, "relation": None}, {"num_words": None, "relation": None},
                 {"num_words": 3, "relation": "at least"}]],
    )
    assert df.schema["kwargs"] == pl.List(pl.Struct({"num_words": pl.Int64, "relation": pl.String}))
    out = run_stage("judge.instruction_following", df)
    got = out.kept.sort("id")
    assert got["if_follow_strict"].to_list() == [[True, True, True], [True, False, True]]
    # loose mode forgives the comma: it is on the last line, which one variant drops
    assert got["if_follow_loose"].to_list() == [[True, True, True], [True, True, True]]
    assert got["if_all_strict"].to_list() == [True, False] and got["if_all_loose"].to_list() == [True, True]
    assert got.schema["if_follow_strict"] == pl.List(pl.Boolean) and got.schema["if_all_loose"] == pl.Boolean
    assert out.removed is None or out.removed.height == 0
    stats = out.result.stats["stage"]
    assert stats.counters.get("rows_following_all_strict") == 1


def test_stage_removes_rows_it_cannot_check_with_the_reason():
    df = _frame(
        response=["ok", "ok", "ok", None, "ok", "ok", "ok", "ok"],
        instruction_id_list=[["keywords:existance"], ["keywords:frequency"], ["punctuation:no_comma"] * 2,
                             ["punctuation:no_comma"], [], ["punctuation:no_comma"], ["punctuation:no_comma"],
                             ["punctuation:no_comma"]],
        kwargs=['[{"keywords": ["a"]}]', '[{"keyword": "a", "frequency": 2, "relation": "sometimes"}]', "[{}]", "[{}]",
                "[]", "not json", "[{}]", None],
    )
    out = run_stage("judge.instruction_following", df)
    reasons = dict(out.removed.select("id", "reason").rows())
    assert reasons == {
        "r0": "cannot check instructions: instruction_id_list[0]: unknown instruction id 'keywords:existance' "
              "(did you mean 'keywords:existence'?)",
        "r1": "cannot check instructions: kwargs[0] of 'keywords:frequency': relation must be one of 'less than', "
              "'at least'; got 'sometimes'",
        "r2": "cannot check instructions: 2 instruction ids but 1 kwargs entries",
        "r3": "cannot check instructions: response is null",
        "r4": "cannot check instructions: instruction_id_list is empty: nothing to check",
        "r5": "cannot check instructions: kwargs is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        "r7": "cannot check instructions: kwargs is null (give one dict per instruction id, {} when it takes none)",
    }
    assert out.kept["id"].to_list() == ["r6"] and out.kept["if_all_strict"].to_list() == [True]


def test_stage_accepts_json_strings_for_both_list_columns():
    df = _frame(response=["Hello world", "Hi, there"], instruction_id_list=['["punctuation:no_comma"]', "[]"],
                kwargs=["[{}]", '[{"num_words": 5, "relation": "at least"}]'])
    out = run_stage("judge.instruction_following", df)
    assert out.kept["if_follow_strict"].to_list() == [[True]]
    assert out.removed["reason"].to_list() == ["cannot check instructions: instruction_id_list is empty: "
                                               "nothing to check"]


def test_stage_uses_the_prompt_for_repeat_prompt_and_needs_no_prompt_column():
    df = _frame(prompt=["Name a fruit."], response=["Name a fruit. Apple."],
                instruction_id_list=[["combination:repeat_prompt"]], kwargs=["[{}]"])
    assert run_stage("judge.instruction_following", df).kept["if_all_strict"].to_list() == [True]
    no_prompt = df.drop("prompt")
    out = run_stage("judge.instruction_following", no_prompt)
    assert out.kept.height == 0 and "prompt_to_repeat" in out.removed["reason"][0]
    other = _frame(response=["x"], instruction_id_list=[["punctuation:no_comma"]], kwargs=["[{}]"])
    assert run_stage("judge.instruction_following", other).kept["if_all_loose"].to_list() == [True]


def test_stage_refuses_a_column_that_holds_no_lists():
    df = _frame(response=["x"], instruction_id_list=[3], kwargs=["[{}]"])
    with pytest.raises(curate.DataError, match="'instruction_id_list' has type Int64, which is not a list"):
        run_stage("judge.instruction_following", df)


def test_stage_declares_its_columns_and_param():
    from curate_judges.ifeval.judge import InstructionFollowingJudge

    judge = InstructionFollowingJudge()
    assert judge.input_columns() == ["response", "instruction_id_list", "kwargs"]
    assert judge.output_columns() == ["if_follow_strict", "if_follow_loose", "if_all_strict", "if_all_loose"]
    assert InstructionFollowingJudge.Params.model_fields["language_seed"].description
    with pytest.raises(curate.RecipeError):
        run_stage("judge.instruction_following", _frame(response=["x"], instruction_id_list=[["a"]], kwargs=["[]"]),
                  language_seed="zero")


def test_a_recipe_reads_ifeval_jsonl_and_judges_it(tmp_path):
    # IFEval's input_data.jsonl style: each kwargs dict has only its own keys, and the first rows
    # have none, so read.jsonl must unify the struct over every row.
    rows = [
        {"key": 1, "prompt": "Write a riddle.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}],
         "response": "What has keys but no locks? A piano."},
        {"key": 2, "prompt": "Write a resume.", "instruction_id_list": ["detectable_content:number_placeholders",
                                                                         "length_constraints:number_words"],
         "kwargs": [{"num_placeholders": 2}, {"relation": "less than", "num_words": 10}],
         "response": "Name: [name]\nAddress: [address]"},
        {"key": 3, "prompt": "Write a haiku.", "instruction_id_list": ["keywords:existence", "startend:quotation"],
         "kwargs": [{"keywords": ["moon"]}, {}], "response": "\"Quiet pond, a frog\""},
        {"key": 4, "prompt": "Answer.", "instruction_id_list": ["language:response_language"],
         "kwargs": [{"language": "xx"}], "response": "Hello."},
    ]
    data = tmp_path / "if.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: ifeval\nstages:\n  - use: read.jsonl\n    with: {path: if.jsonl}\n"
                      "  - id: judged\n    use: judge.instruction_following\n"
                      "  - use: write.jsonl\n    with: {path: judged.jsonl}\n")
    result = curate.run(recipe, run_dir=tmp_path / "run")
    written = [json.loads(line) for line in (tmp_path / "run" / "judged.jsonl").read_text().splitlines()]
    assert [(r["key"], r["if_follow_strict"], r["if_all_loose"]) for r in written] == [
        (1, [True], True), (2, [True, True], True), (3, [False, True], False)]
    assert result.stats["judged"].rows_removed == 1
    reason = result.rundir.removed("judged")["reason"].to_list()
    assert reason == ["cannot check instructions: kwargs[0] of 'language:response_language': language must be one "
                      "of 'en', 'es', 'pt', 'ar', 'hi', 'fr', 'ru', 'de', 'ja', 'it', 'bn', 'uk', 'th', 'ur', 'ta', "
                      "'te', 'bg', 'ko', 'pl', 'he', 'fa', 'vi', 'ne', 'sw', 'kn', 'mr', 'gu', 'pa', 'ml', 'fi'; "
                      "got 'xx'"]


def test_an_empty_batch_gets_the_output_columns():
    from curate_judges.ifeval.judge import InstructionFollowingJudge

    empty = pl.DataFrame(schema={"response": pl.String, "instruction_id_list": pl.List(pl.String), "kwargs": pl.String})
    out = InstructionFollowingJudge().process_batch(empty)
    assert out.kept.height == 0 and out.removed.height == 0
    assert out.kept.schema["if_follow_loose"] == pl.List(pl.Boolean) and out.kept.schema["if_all_strict"] == pl.Boolean
