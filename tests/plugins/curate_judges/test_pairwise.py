"""judge.pairwise: pairs, both orders, verdict parsing, consistency, templates, and a
position-biased judge server that only the swap catches."""

from __future__ import annotations

import re
from itertools import combinations
from typing import Iterator

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage

from ..conftest import registered

ANSWER = re.compile(r"\[Answer ([AB])\]\n(.*?)\n\[End of answer \1\]", re.S)


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "judge.pairwise", "judge", "curate-judges"):
        yield


def shown(text: str) -> dict[str, str]:
    """The two answers a default-template judge prompt shows, by position."""
    return dict(ANSWER.findall(text))


def quality(answer: str) -> int:
    return int(answer.rsplit("q=", 1)[1])


def fair_verdict(text: str) -> str:
    """A judge that reads the answers: the higher `q=` wins, equal ones tie."""
    answers = shown(text)
    a, b = quality(answers["A"]), quality(answers["B"])
    return "Having compared them: [[A]]" if a > b else "Having compared them: [[B]]" if b > a else "Equal. [[C]]"


def fair_judge(req: curate.ChatRequest) -> str:
    return fair_verdict(req.messages[-1]["content"])


class CountingScripted(ScriptedEngine):
    """A scripted judge that also counts generate calls."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def generate(self, requests, on_result=None):
        self.calls += 1
        return super().generate(requests, on_result)


def prompts(*rows: tuple[str, list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame({"id": [r[0] for r in rows], "prompt": [f"question {r[0]}" for r in rows],
                         "responses": [r[1] for r in rows]}, schema={"id": pl.Utf8, "prompt": pl.Utf8,
                                                                     "responses": pl.List(pl.Utf8)})


def test_all_pairs_are_judged_in_both_orders_in_one_engine_call():
    engine = CountingScripted(default=fair_judge, model="judge-model")
    df = prompts(("p1", ["w q=1", "x q=4", "y q=2", "z q=3"]), ("p2", ["u q=2", "v q=1"]))
    out = run_stage("judge.pairwise", df, engines={"judge": engine})

    assert engine.calls == 1 and len(engine.history) == 2 * (6 + 1)
    got = {(r["id"], r["winner"]) for r in out.kept.iter_rows(named=True)}
    expected = set()
    for pid, responses in (("p1", ["w q=1", "x q=4", "y q=2", "z q=3"]), ("p2", ["u q=2", "v q=1"])):
        for (i, a), (j, b) in combinations(enumerate(responses), 2):
            expected.add((f"{pid}/{i}-{j}", "a" if quality(a) > quality(b) else "b"))
    assert got == expected and out.kept.height == 4 * 3 // 2 + 1
    row = out.kept.filter(pl.col("id") == "p1/0-1").row(0, named=True)
    assert (row["prompt_id"], row["prompt"], row["response_a"], row["response_b"]) == ("p1", "question p1", "w q=1",
                                                                                        "x q=4")
    assert (row["response_a_index"], row["response_b_index"]) == (0, 1)
    assert (row["verdict_ab"], row["verdict_ba"]) == ("[[B]]", "[[A]]")
    assert row["judgment_ab"] == "Having compared them: [[B]]"
    assert row["judge"]["model"] == "judge-model" and row["judge"]["engine"] == "judge"
    assert row["judge"]["template"] == "curate_judges:pairwise.j2"
    assert row["judge"]["template_sha"] == curate.package_template("curate_judges", "pairwise.j2").sha
    assert "responses" not in out.kept.columns
    # The second request of a pair shows the same two answers, swapped.
    first, second = (shown(r.messages[-1]["content"]) for r in engine.history[:2])
    assert (first["A"], first["B"]) == (second["B"], second["A"])
    assert engine.history[0].messages[0]["role"] == "system"
    counters = out.result.stats["stage"].counters
    assert counters == {"requests_sent": 14, "requests_cached": 0, "requests_failed": 0, "pairs_judged": 7,
                        "consistent": 7, "inconsistent": 0, "ties": 0, "parse_failures": 0}


def biased_responder(body: dict, sample: int) -> str:
    """A judge server: always prefers the first position on prompts marked [lazy], reads the
    answers on the others."""
    text = body["messages"][-1]["content"]
    if "[lazy]" in text:
        return "The first answer looks better to me.\n[[A]]"
    return fair_verdict(text)


@pytest.mark.parametrize("swap", [True, False])
def test_swap_removes_a_position_biased_judges_verdicts(swap):
    curate_openai = pytest.importorskip("curate_openai")
    from curate.testing.fault_server import FaultServer

    df = pl.DataFrame({"id": ["fair1", "lazy1", "fair2", "lazy2"],
                       "prompt": ["q one", "q two [lazy]", "q three", "q four [lazy]"],
                       "responses": [["a q=1", "b q=3", "c q=2"], ["a q=1", "b q=3", "c q=2"], ["d q=5", "e q=4"],
                                     ["d q=5", "e q=4"]]})
    with FaultServer(responder=biased_responder) as server:
        engine = curate_openai.OpenAIEngine(model="echo", base_url=server.base_url, api_key_env=None)
        out = run_stage("judge.pairwise", df, engines={"judge": engine}, swap=swap)
        assert server.stats()["chat_requests"] == 8 * (2 if swap else 1)

    fair = out.kept.filter(pl.col("prompt_id").str.starts_with("fair"))
    assert {(r["id"], r["winner"]) for r in fair.iter_rows(named=True)} == {
        ("fair1/0-1", "b"), ("fair1/0-2", "b"), ("fair1/1-2", "a"), ("fair2/0-1", "a")}
    lazy = out.kept.filter(pl.col("prompt_id").str.starts_with("lazy"))
    counters = out.result.stats["stage"].counters
    if swap:  # every verdict of the lazy judge flips with the order: all removed, with both verdicts
        assert lazy.height == 0 and out.removed.height == 4
        assert set(out.removed["prompt_id"]) == {"lazy1", "lazy2"}
        assert set(out.removed["reason"]) == {
            "inconsistent verdicts: order (a, b) said '[[A]]' (a wins), order (b, a) said '[[A]]' (b wins)"}
        assert (counters["pairs_judged"], counters["consistent"], counters["inconsistent"]) == (8, 4, 4)
        assert out.result.stats["stage"].metrics["consistency_rate"] == 0.5
    else:  # asked once, position bias passes as a preference for whatever came first
        assert out.removed is None
        assert lazy.height == 4 and set(lazy["winner"]) == {"a"}
        assert (counters["pairs_judged"], counters["consistent"], counters["inconsistent"]) == (8, 8, 0)
        assert out.result.stats["stage"].metrics["consistency_rate"] == 1.0
        assert lazy["verdict_ba"].is_null().all()


def test_ties_are_kept_and_a_tie_against_a_win_is_inconsistent():
    def judge(req: curate.ChatRequest) -> str:
        answers = shown(req.messages[-1]["content"])
        if "mixed" in req.messages[-1]["content"]:  # tie one way, a win the other
            return "[[C]]" if answers["A"].startswith("x") else "[[A]]"
        return fair_judge(req)

    df = pl.DataFrame({"id": ["same", "mixed"], "prompt": ["q", "q mixed"],
                       "responses": [["x q=2", "y q=2"], ["x q=1", "y q=5"]]})
    out = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=judge)})
    assert out.kept.select("id", "winner").rows() == [("same/0-1", "tie")]
    assert out.removed["reason"].to_list() == [
        "inconsistent verdicts: order (a, b) said '[[C]]' (a tie), order (b, a) said '[[A]]' (b wins)"]
    counters = out.result.stats["stage"].counters
    assert (counters["ties"], counters["consistent"], counters["inconsistent"]) == (1, 1, 1)


def test_verdicts_are_looked_for_in_the_order_a_b_c():
    replies = iter(["Not [[B]]; I pick [[A]]", "[[C]] ... on reflection [[B]]", "[[C]]", "[[C]]"])
    engine = ScriptedEngine(default=lambda req: next(replies))
    df = prompts(("p", ["r0 q=0", "r1 q=0"]), ("t", ["r0 q=0", "r1 q=0"]))
    out = run_stage("judge.pairwise", df, engines={"judge": engine})
    rows = {r["id"]: r for r in out.kept.iter_rows(named=True)}
    # order (a, b): [[A]] -> a; order (b, a): [[B]] -> a
    assert rows["p/0-1"]["winner"] == "a" and (rows["p/0-1"]["verdict_ab"], rows["p/0-1"]["verdict_ba"]) == (
        "[[A]]", "[[B]]")
    assert rows["t/0-1"]["winner"] == "tie"


def test_parse_failures_and_failed_requests_are_removed_with_the_raw_text():
    def judge(req: curate.ChatRequest) -> str | Exception:
        text = req.messages[-1]["content"]
        if "vague" in text:
            return "Both answers have merits and I cannot really choose."
        if "broken" in text:
            return RuntimeError("judge server fell over")
        return fair_judge(req)

    df = pl.DataFrame({"id": ["ok", "vague", "broken"], "prompt": ["q", "q vague", "q broken"],
                       "responses": [["a q=1", "b q=2"]] * 3})
    out = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=judge)})
    assert out.kept["id"].to_list() == ["ok/0-1"]
    reasons = dict(zip(out.removed["prompt_id"], out.removed["reason"]))
    assert reasons["vague"] == ("no verdict found in the judge's answer (order (a, b)): "
                                "'Both answers have merits and I cannot really choose.'")
    assert reasons["broken"].startswith("judge request failed (order (a, b)): RuntimeError: judge server fell over")
    vague = out.removed.filter(pl.col("prompt_id") == "vague").row(0, named=True)
    assert vague["judgment_ab"] == vague["judgment_ba"] == "Both answers have merits and I cannot really choose."
    counters = out.result.stats["stage"].counters
    assert (counters["pairs_judged"], counters["parse_failures"], counters["requests_failed"]) == (1, 1, 2)


@pytest.mark.parametrize("pattern", [
    {"A": r"Winner:\s*first", "B": r"Winner:\s*second", "C": r"Winner:\s*neither"},
    r"Winner:\s*(?:(?P<A>first)|(?P<B>second)|(?P<C>neither))",
])
def test_custom_verdict_pattern(pattern):
    def judge(req: curate.ChatRequest) -> str:
        verdict = fair_judge(req)
        return {"[[A]]": "Winner: first", "[[B]]": "Winner:  second", "[[C]]": "Winner: neither"}[verdict[-5:]]

    df = prompts(("p", ["a q=1", "b q=3", "c q=3"]))
    out = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=judge)}, verdict_pattern=pattern)
    assert out.kept.select("id", "winner").rows() == [("p/0-1", "b"), ("p/0-2", "b"), ("p/1-2", "tie")]
    assert out.kept["verdict_ab"].to_list() == ["Winner:  second", "Winner:  second", "Winner: neither"]
    # The default MT-Bench pattern finds nothing in these answers.
    default = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=judge)})
    assert default.kept.height == 0 and default.result.stats["stage"].counters["parse_failures"] == 3


@pytest.mark.parametrize("bad, message", [
    (r"Winner: (first|second)", "needs named groups A and B"),
    ({"A": "x"}, "needs keys A and B"),
    (r"(?P<A>x)|(?P<B>[y)", "not a valid regular expression"),
    (r"(?P<A>x)|(?P<B>y)|(?P<D>z)", "no other named groups"),
])
def test_a_bad_verdict_pattern_fails_validation(bad, message):
    from pydantic import ValidationError

    from curate_judges.pairwise import PairwiseParams

    with pytest.raises(ValidationError, match=re.escape(message)):
        PairwiseParams(verdict_pattern=bad)


def test_random_pairing_draws_k_pairs_per_prompt_stably():
    rows = [(f"p{n}", [f"r{i} q={i}" for i in range(5)]) for n in range(8)]
    df = prompts(*rows)

    def pairs(frame: pl.DataFrame, **params) -> dict[str, set[str]]:
        out = run_stage("judge.pairwise", frame, engines={"judge": ScriptedEngine(default=fair_judge)},
                        pairing="random", **params)
        found: dict[str, set[str]] = {}
        for pid, pair_id in out.kept.select("prompt_id", "id").rows():
            found.setdefault(pid, set()).add(pair_id)
        return found

    first = pairs(df, k=3, seed=7)
    assert set(first) == {f"p{n}" for n in range(8)} and all(len(v) == 3 for v in first.values())
    every = {f"{i}-{j}" for i, j in combinations(range(5), 2)}
    assert all({p.split("/")[1] for p in v} <= every for v in first.values())
    assert len({frozenset(p.split("/")[1] for p in v) for v in first.values()}) > 1  # drawn per prompt
    assert pairs(df, k=3, seed=7) == first  # same seed: same pairs
    assert pairs(df.slice(3, 1), k=3, seed=7) == {"p3": first["p3"]}  # independent of the batch
    assert pairs(df, k=3, seed=8) != first  # another seed: another draw
    assert all(len(v) == 10 for v in pairs(df, k=50).values())  # k above N*(N-1)/2: every pair


def test_reference_pairing_compares_each_response_with_the_reference():
    df = pl.DataFrame({"id": ["p", "q"], "prompt": ["x", "y"], "responses": [["a q=1", "b q=9", "c q=5"], ["d q=1"]],
                       "reference": ["gold q=5", None]})
    out = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=fair_judge)},
                    pairing="reference")
    assert out.kept.select("id", "response_b", "winner").rows() == [
        ("p/0-ref", "gold q=5", "b"), ("p/1-ref", "gold q=5", "a"), ("p/2-ref", "gold q=5", "tie")]
    assert out.kept["response_b_index"].is_null().all()
    assert out.removed.select("id", "reason").rows() == [("q", "no reference response in column 'reference'")]


def test_pairing_params_are_checked():
    with pytest.raises(curate.RecipeError, match="`k` applies to `pairing: random` only"):
        run_stage("judge.pairwise", prompts(("p", ["a", "b"])), engines={"judge": ScriptedEngine()}, k=2)
    with pytest.raises(curate.UserInputError, match="reference"):
        run_stage("judge.pairwise", prompts(("p", ["a", "b"])), engines={"judge": ScriptedEngine()},
                  pairing="reference")  # the input has no `reference` column


def test_prompts_without_two_responses_and_bad_responses_column():
    df = prompts(("one", ["a q=1"]), ("none", []), ("nulls", [None, "b q=1", None]), ("ok", ["a q=1", None, "c q=2"]))
    out = run_stage("judge.pairwise", df, engines={"judge": ScriptedEngine(default=fair_judge)})
    assert out.kept.select("id", "winner").rows() == [("ok/0-2", "b")]
    assert out.removed.select("id", "reason").rows() == [
        ("one", "nothing to compare: 2 responses needed, 1 given"),
        ("none", "nothing to compare: 2 responses needed, 0 given"),
        ("nulls", "nothing to compare: 2 responses needed, 1 given")]
    flat = pl.DataFrame({"id": ["p"], "prompt": ["q"], "responses": ["not a list"]})
    with pytest.raises(curate.DataError, match="column 'responses' has type String; a list of strings"):
        run_stage("judge.pairwise", flat, engines={"judge": ScriptedEngine()})


def test_a_conversation_is_shown_with_its_turns():
    engine = ScriptedEngine(default=fair_judge)
    df = pl.DataFrame({"id": ["c"], "messages": [[{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"},
                                                  {"role": "user", "content": "and 2+2?"}]],
                       "responses": [["4 q=2", "5 q=1"]]})
    out = run_stage("judge.pairwise", df, engines={"judge": engine})
    assert out.kept["winner"].to_list() == ["a"] and out.kept["messages"].to_list() == df["messages"].to_list()
    assert "[The request]\nuser: hi\nassistant: hello\nuser: and 2+2?\n[End of the request]" in \
        engine.history[0].messages[-1]["content"]


RECIPE = """\
name: judge-templates
stages:
  - use: read.jsonl
    with: {{path: data.jsonl}}
  - id: judged
    use: judge.pairwise
    with:
      system_prompt: null
      template: {template}
"""


def test_the_template_is_replaceable_inline_and_from_a_file(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"id": "p", "prompt": "Pick one", "responses": ["x q=1", "y q=2"]}])
    inline = "'{{ prompt }} | first: {{ response_a }} | second: {{ response_b }} | {{ messages[0].role }}'"
    # Prefers whatever is shown second when y is second: consistent, and y wins.
    engine = ScriptedEngine(default=lambda req: "[[B]]" if req.messages[-1]["content"].endswith(
        "x q=1 | second: y q=2 | user") else "[[A]]")
    recipe = write_recipe(RECIPE.format(template=inline))
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={"judge": engine})
    assert [r.messages for r in engine.history] == [
        [{"role": "user", "content": "Pick one | first: x q=1 | second: y q=2 | user"}],
        [{"role": "user", "content": "Pick one | first: y q=2 | second: x q=1 | user"}]]
    row = result.rundir.output("judged").row(0, named=True)
    assert row["winner"] == "b"
    text = inline.strip("'")
    assert row["judge"]["template"] == "template (inline)" and row["judge"]["template_sha"] == curate.Template(
        "x", text).sha

    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "judge.j2").write_text("FILE {{ response_a }} vs {{ response_b }}")
    recipe = write_recipe(RECIPE.format(template="file:prompts/judge.j2"), name="file.yaml")
    engine = ScriptedEngine(default=lambda req: "[[A]]" if req.messages[-1]["content"] == "FILE y q=2 vs x q=1"
                            else "[[B]]")
    result = curate.run(recipe, run_dir=tmp_path / "run2", engines={"judge": engine})
    assert engine.history[0].messages[-1]["content"] == "FILE x q=1 vs y q=2"
    row = result.rundir.output("judged").row(0, named=True)
    assert row["winner"] == "b" and row["judge"]["template"] == str(tmp_path / "prompts" / "judge.j2")


def test_an_unknown_template_variable_fails_validation(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"id": "p", "prompt": "Pick one", "responses": ["x", "y"]}])
    recipe = write_recipe(RECIPE.format(template="'{{ question }}: {{ response_a }} or {{ response_b }}'"))
    engine = ScriptedEngine()
    with pytest.raises(curate.RecipeError) as err:
        curate.run(recipe, run_dir=tmp_path / "run", engines={"judge": engine}, dry_run=True)
    message = str(err.value)
    assert "stage 'judged' (judge.pairwise)" in message
    assert "template 'template (inline)' uses variable(s) question" in message
    assert "response_a" in message  # the hint lists what the stage supplies
    assert engine.history == [] and not (tmp_path / "run" / "stages").exists()
