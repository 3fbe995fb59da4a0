"""judge.rating: free-text ratings read with a lenient pattern, JSON ratings through
curate.generate_structured when the engine supports schemas, reference answers, templates."""

from __future__ import annotations

import json
import re
from typing import Iterator

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage

from ..conftest import registered


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "judge.rating", "judge", "curate-judges"):
        yield


def rows(*responses: str) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(responses))],
                         "prompt": [f"question {i}" for i in range(len(responses))], "response": list(responses)})


def test_free_text_ratings_are_read_and_unreadable_ones_removed_with_the_raw_text():
    engine = ScriptedEngine(["Correct and clear.\nRating: [[8]]", "Off by one.\n\nRating: 4/10", "[[6.5]]",
                             "Dreadful. Rating: [[0]]", "It depends."], model="grader")
    out = run_stage("judge.rating", rows("a", "b", "c", "d", "e"), engines={"judge": engine})
    assert out.kept.select("id", "rating", "rating_reasoning").rows() == [
        ("r0", 8.0, "Correct and clear."), ("r1", 4.0, "Off by one."), ("r2", 6.5, "")]
    assert out.kept.schema["rating"] == pl.Float64
    assert out.removed.select("id", "reason").rows() == [
        ("r3", "unreadable rating (rating 0 is outside 1-10): 'Dreadful. Rating: [[0]]'"),
        ("r4", "unreadable rating (no rating found): 'It depends.'")]
    judge = out.kept["rating_judge"][0]
    assert judge["model"] == "grader" and judge["template"] == "curate_judges:rating.j2"
    assert judge["template_sha"] == curate.package_template("curate_judges", "rating.j2").sha
    counters = out.result.stats["stage"].counters
    assert (counters["rated"], counters["parse_failures"], counters["requests_sent"]) == (3, 2, 5)
    # ScriptedEngine cannot constrain decoding: the judge is asked for the "Rating: [[N]]" line.
    prompt = engine.history[0].messages[-1]["content"]
    assert 'end with a line of the form "Rating: [[N]]"' in prompt and "from 1 to 10" in prompt
    assert "[The answer to rate]\na\n[End of the answer]" in prompt and engine.history[0].sampling.temperature == 0


def test_the_last_rating_counts():
    engine = ScriptedEngine(["On a scale where [[1]] is bad... this one is good. Rating: [[9]]"])
    out = run_stage("judge.rating", rows("a"), engines={"judge": engine})
    assert out.kept["rating"].to_list() == [9.0]


def test_likert_scale_rubric_and_custom_pattern():
    engine = ScriptedEngine(["Score=4", "Score=7"])
    out = run_stage("judge.rating", rows("a", "b"), engines={"judge": engine}, scale="1-5",
                    rubric="Only factual accuracy matters.", rating_pattern=r"Score=(\d+)")
    assert out.kept.select("id", "rating").rows() == [("r0", 4.0)]
    assert out.removed["reason"].to_list() == ["unreadable rating (rating 7 is outside 1-5): 'Score=7'"]
    prompt = engine.history[0].messages[-1]["content"]
    assert "from 1 (worst) to 5 (best)" in prompt and "Only factual accuracy matters." in prompt
    assert "anchors" not in prompt  # a rubric replaces the built-in anchors


def test_a_reference_answer_is_shown_and_required():
    engine = ScriptedEngine(default=lambda req: "Rating: [[10]]" if "[A reference answer" in req.messages[-1][
        "content"] and "42" in req.messages[-1]["content"] else "Rating: [[1]]")
    df = rows("42", "41").with_columns(pl.Series("gold", ["42", None]))
    out = run_stage("judge.rating", df, engines={"judge": engine}, reference_column="gold")
    assert out.kept.select("id", "rating").rows() == [("r0", 10.0)]
    assert out.removed["reason"].to_list() == ["no reference answer in 'gold'"]
    assert len(engine.history) == 1


def test_json_answers_when_the_engine_supports_schemas():
    curate_openai = pytest.importorskip("curate_openai")
    from curate.testing.fault_server import FaultServer

    def responder(body: dict, sample: int) -> str:
        text = body["messages"][1]["content"]
        if "could not be used" in body["messages"][-1]["content"]:  # the re-ask
            return json.dumps({"reasoning": "fixed", "rating": 3})
        if "answer b" in text:
            return "I would say three."
        if "answer c" in text:
            return json.dumps({"reasoning": "too high", "rating": 9})
        return json.dumps({"reasoning": "Solid.", "rating": 4})

    with FaultServer(responder=responder) as server:
        engine = curate_openai.OpenAIEngine(model="echo", base_url=server.base_url, api_key_env=None)
        out = run_stage("judge.rating", rows("answer a", "answer b", "answer c"), engines={"judge": engine},
                        scale="1-5", max_reasks=1)
        bodies = server.bodies
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["rating"]["minimum"] == 1 and schema["properties"]["rating"]["maximum"] == 5
    assert list(schema["properties"]) == ["reasoning", "rating"]
    assert 'Reply with a JSON object with two keys: "reasoning"' in bodies[0]["messages"][1]["content"]
    # b and c are asked again once; both re-asks answer a valid 3
    assert out.kept.select("id", "rating", "rating_reasoning").rows() == [
        ("r0", 4.0, "Solid."), ("r1", 3.0, "fixed"), ("r2", 3.0, "fixed")]
    assert out.result.stats["stage"].counters["requests_sent"] == 5 == len(bodies)


def test_json_answers_that_never_fit_are_removed_with_the_raw_text():
    engine = ScriptedEngine(default=lambda req: '{"reasoning": "ok", "rating": 11}')
    out = run_stage("judge.rating", rows("a"), engines={"judge": engine}, answer_format="json", max_reasks=1)
    assert out.kept.height == 0 and len(engine.history) == 2
    reason = out.removed["reason"][0]
    assert reason.startswith("unreadable rating (invalid answer: ") and "less than or equal to 10" in reason
    assert reason.endswith("""'{"reasoning": "ok", "rating": 11}'""")
    ok = run_stage("judge.rating", rows("a"), answer_format="json",
                   engines={"judge": ScriptedEngine(['Sure: {"reasoning": "fine", "rating": 7}'])})
    assert ok.kept.select("rating", "rating_reasoning").rows() == [(7.0, "fine")]


def test_failed_requests_and_missing_responses_are_removed():
    engine = ScriptedEngine([RuntimeError("boom")])
    df = rows("a", "b").with_columns(pl.Series("response", ["a", None]))
    out = run_stage("judge.rating", df, engines={"judge": engine})
    assert out.removed.select("id", "reason").rows() == [("r0", "judge request failed: RuntimeError: boom"),
                                                         ("r1", "no response to rate in 'response'")]
    assert out.result.stats["stage"].counters["requests_failed"] == 1


def test_template_replacement_and_unknown_variables(tmp_path):
    engine = ScriptedEngine(["[[5]]"])
    out = run_stage("judge.rating", rows("a"), engines={"judge": engine}, system_prompt=None,
                    template="Rate {{ response }} for {{ prompt }} ({{ scale_min }}-{{ scale_max }})")
    assert engine.history[0].messages == [{"role": "user", "content": "Rate a for question 0 (1-10)"}]
    assert out.kept["rating_judge"][0]["template"] == "template (inline)"
    with pytest.raises(curate.RecipeError, match=re.escape("uses variable(s) score")) as err:
        run_stage("judge.rating", rows("a"), engines={"judge": ScriptedEngine()}, template="{{ score }}")
    assert "(judge.rating)" in str(err.value)


def test_parse_rating_unit():
    from curate_judges.rating import DEFAULT_RATING_PATTERNS, parse_rating

    patterns = [re.compile(p) for p in DEFAULT_RATING_PATTERNS]
    assert parse_rating("Good.\nRating: 7/10", patterns) == (7.0, "Good.")
    assert parse_rating("Fine.\n**Rating:** 6", patterns)[0] == 6.0  # markdown bold around the label
    assert parse_rating("rating = 6", patterns) == (6.0, "")
    assert parse_rating('{"rating": 3, "reasoning": "meh"}', patterns) == (3.0, "meh")
    assert parse_rating("nothing here", patterns) is None
