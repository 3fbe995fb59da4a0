"""judge.reward_model: reward columns from a score engine, weights and presets, removed rows,
per-item scoring of `responses` lists, and whole recipes with a score engine under `engines:`."""

from __future__ import annotations

import json
import socket
import textwrap
from typing import Iterator

import polars as pl
import pytest

import curate
from curate.testing import ScriptedScorer, run_stage
from curate.testing.fault_server import FaultServer

from ..conftest import registered

HELPSTEER = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
PRESET = {"helpfulness": 0.3, "correctness": 0.74, "coherence": 0.46, "complexity": 0.47, "verbosity": -0.33}


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "judge.reward_model", "judge", "curate-judges"):
        yield


def helpsteer_scores(req: curate.ScoreRequest) -> dict[str, float]:
    """Five attributes that differ per attribute and per response, so a wrong weight shows."""
    n = len(req.response)
    return {a: n * (k + 1) + 0.5 * k for k, a in enumerate(HELPSTEER)}


def rows(*responses: str | None, prompts: list | None = None) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(responses))],
                         "prompt": prompts or [f"question {i}" for i in range(len(responses))],
                         "response": list(responses)})


def test_helpsteer2_preset_weights_the_five_attributes():
    scorer = ScriptedScorer(helpsteer_scores, attributes=HELPSTEER)
    out = run_stage("judge.reward_model", rows("short", "a longer answer"), engines={"reward": scorer},
                    weights_preset="helpsteer2")
    for row in out.kept.iter_rows(named=True):
        scores = {a: len(row["response"]) * (k + 1) + 0.5 * k for k, a in enumerate(HELPSTEER)}
        assert {a: row[f"reward_{a}"] for a in HELPSTEER} == scores
        assert row["reward"] == pytest.approx(sum(PRESET[a] * scores[a] for a in HELPSTEER))
    assert out.kept["reward"][1] > out.kept["reward"][0]
    assert [r.response for r in scorer.history] == ["short", "a longer answer"]
    assert scorer.history[0].messages == [{"role": "user", "content": "question 0"}]


def test_recipe_weights_choose_the_attributes_and_their_columns():
    out = run_stage("judge.reward_model", rows("abc", "abcdef"), engines={"reward": ScriptedScorer(helpsteer_scores)},
                    weights={"correctness": 1.0, "verbosity": -0.5})
    assert [c for c in out.kept.columns if c.startswith("reward")] == ["reward", "reward_correctness",
                                                                       "reward_verbosity"]
    # correctness = 2n + 0.5, verbosity = 5n + 2: reward = 2n + 0.5 - 2.5n - 1 = -0.5n - 0.5
    assert out.kept["reward"].to_list() == pytest.approx([-2.0, -3.5])


def test_single_attribute_model_reward_is_its_score():
    scorer = ScriptedScorer(lambda req: -len(req.response) / 10)
    out = run_stage("judge.reward_model", rows("four", "twelve chars"), engines={"reward": scorer})
    assert out.kept["reward"].to_list() == pytest.approx([-0.4, -1.2])
    assert [c for c in out.kept.columns if c.startswith("reward")] == ["reward"]


def test_multi_attribute_model_without_weights_is_a_recipe_error():
    with pytest.raises(curate.RecipeError, match="returned 5 attributes") as err:
        run_stage("judge.reward_model", rows("x"), engines={"reward": ScriptedScorer(helpsteer_scores)})
    assert "weights_preset: helpsteer2" in str(err.value)


def test_failed_requests_and_bad_rows_are_removed_with_reasons():
    def score(req):
        if "server" in req.response:
            return ConnectionError("server went away")
        if "odd" in req.response:
            return {"helpfulness": 1.0}  # a reply missing four attributes
        return helpsteer_scores(req)

    df = rows("fine", "server gone", "odd reply", None, "no prompt", prompts=["q0", "q1", "q2", "q3", None])
    out = run_stage("judge.reward_model", df, engines={"reward": ScriptedScorer(score)}, weights_preset="helpsteer2")
    assert out.kept["id"].to_list() == ["r0"]
    assert dict(out.removed.select("id", "reason").rows()) == {
        "r1": "reward model request failed: ConnectionError: server went away",
        "r2": "the reward model returned no score for correctness, coherence, complexity, verbosity "
              "(it returned helpfulness)",
        "r3": "`response` is null: nothing to score",
        "r4": "no prompt to score the response against (`prompt`/`messages` is null or empty)",
    }
    assert "reward" not in out.removed.columns
    counters = out.result.stats["stage"].counters
    assert counters["requests_sent"] == 3 and counters["requests_failed"] == 1


def test_messages_conversations_are_scored_whole():
    convo = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Name a fruit."}]
    df = pl.DataFrame({"id": ["a"], "messages": [convo], "response": ["Apple."]},
                      schema={"id": pl.Utf8, "messages": curate.MESSAGES, "response": pl.Utf8})
    scorer = ScriptedScorer(lambda req: float(len(req.messages)))
    out = run_stage("judge.reward_model", df, engines={"reward": scorer})
    assert scorer.history[0].messages == convo and scorer.history[0].response == "Apple."
    assert out.kept["reward"].to_list() == [4.0]


def test_each_item_of_a_responses_list_is_scored():
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["p", "q", "r", "s"],
                       "responses": [["x", "xyz"], [], ["server"], None]})

    def score(req):
        return RuntimeError("down") if req.response == "server" else {"helpfulness": len(req.response),
                                                                       "verbosity": 1.0}

    out = run_stage("judge.reward_model", df, engines={"reward": ScriptedScorer(score)},
                    weights={"helpfulness": 2.0, "verbosity": -1.0})
    assert out.kept.select("id", "reward", "reward_helpfulness").rows() == [
        ("a", [1.0, 5.0], [1.0, 3.0]), ("b", [], [])]
    assert out.kept.schema["reward"] == pl.List(pl.Float64)
    assert dict(out.removed.select("id", "reason").rows()) == {
        "c": "response 0: reward model request failed: RuntimeError: down",
        "d": "`responses` is null: nothing to score"}


@pytest.mark.parametrize("column, values", [("response", [1, 2]), ("responses", ["not a list", "b"])])
def test_responses_that_are_not_text_are_a_data_error(column, values):
    df = pl.DataFrame({"id": ["a", "b"], "prompt": ["p", "q"], column: values})
    with pytest.raises(curate.DataError, match=f"column '{column}' has type"):
        run_stage("judge.reward_model", df, engines={"reward": ScriptedScorer()})


@pytest.mark.parametrize("with_, message", [
    ({"weights": {"helpfulness": 1.0}, "weights_preset": "helpsteer2"}, "not both"),
    ({"weights": {}}, "`weights` is empty"),
    ({"weights_preset": "helpsteer3"}, "helpsteer2"),
    ({"weights": {"a": float("nan")}}, "not a finite number"),
])
def test_bad_params_are_rejected_at_validation(with_, message):
    with pytest.raises(curate.RecipeError, match=message):
        run_stage("judge.reward_model", rows("x"), engines={"reward": ScriptedScorer()}, **with_)


def test_a_chat_engine_is_refused_where_a_score_engine_is_needed():
    from curate.testing import ScriptedEngine

    with pytest.raises(curate.RecipeError, match="needs a score engine"):
        run_stage("judge.reward_model", rows("x"), engines={"reward": ScriptedEngine()})


# --- whole recipes with a score engine declared under `engines:` (nim-reward, fault server) ----

def attribute_text(body: dict, sample: int) -> str:
    n = len(body["messages"][-1]["content"])
    return ",".join(f"{a}:{n * (k + 1) + 0.5 * k}" for k, a in enumerate(HELPSTEER))


def write_recipe(tmp_path, base_url: str, responses: list[str]) -> str:
    data = [{"prompt": f"question {i}", "response": r} for i, r in enumerate(responses)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in data))
    engine = {"use": "nim-reward", "model": "rm", "base_url": base_url, "api_key_env": None, "max_attempts": 2,
              "backoff_base": 0.01, "backoff_max": 0.02}
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: reward-test
        engines:
          rm: {json.dumps(engine)}
        stages:
          - use: read.jsonl
            with: {{path: pairs.jsonl}}
          - id: scored
            use: judge.reward_model
            with: {{engine: rm, weights_preset: helpsteer2}}
          - use: write.jsonl
            with: {{path: scored.jsonl, format: raw}}
        """))
    return str(path)


@pytest.fixture
def openai_registered() -> Iterator[None]:
    curate_openai = pytest.importorskip("curate_openai")
    with registered(curate_openai, "nim-reward", "score_engine", "curate-openai"):
        yield


def test_recipe_with_nim_reward_engine_and_a_request_failing_mid_run(tmp_path, openai_registered):
    responses = ["A short answer.", "The server fails twice on this one.", "The longest answer of the three, by far."]
    with FaultServer(models=["rm"], responder=attribute_text, script={"question 1": ["500", "503"]}) as srv:
        result = curate.run(write_recipe(tmp_path, srv.base_url, responses), run_dir=tmp_path / "run")
    out = result.outputs["write.jsonl"]
    assert out["response"].to_list() == [responses[0], responses[2]]
    for row in out.iter_rows(named=True):
        n = len(row["response"])
        assert row["reward"] == pytest.approx(sum(PRESET[a] * (n * (k + 1) + 0.5 * k)
                                                  for k, a in enumerate(HELPSTEER)))
    removed = result.rundir.removed("scored")
    assert removed["response"].to_list() == [responses[1]]
    assert "HTTP 503" in removed["reason"][0] and "after 2 attempts" in removed["reason"][0]
    counters = result.stats["scored"].counters
    assert counters["requests_sent"] == 3 and counters["requests_failed"] == 1


def test_recipe_engine_down_at_start_fails_before_anything_runs(tmp_path, openai_registered):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(curate.EngineError, match=f"engine nim-reward .*127.0.0.1:{port}"):
        curate.run(write_recipe(tmp_path, f"http://127.0.0.1:{port}/v1", ["x"]), run_dir=tmp_path / "run")
    assert not list((tmp_path / "run").glob("stages/*/output.parquet"))


def test_recipe_rerun_takes_scores_from_the_request_cache(tmp_path, openai_registered):
    with FaultServer(models=["rm"], responder=attribute_text) as srv:
        path = write_recipe(tmp_path, srv.base_url, ["one", "two"])
        first = curate.run(path, run_dir=tmp_path / "run")
        # A changed weight reruns the stage; the pairs come from requests.sqlite, not the server.
        second = curate.run(path, run_dir=tmp_path / "run",
                            overrides={"stages.scored.with": {"engine": "rm", "weights": {"helpfulness": 1.0}}})
    assert srv.stats()["chat_requests"] == 2
    assert second.stats["scored"].counters == {"requests_cached": 2}
    assert second.outputs["write.jsonl"]["reward"].to_list() == [3.0, 3.0]
    assert first.outputs["write.jsonl"]["reward"].to_list() != second.outputs["write.jsonl"]["reward"].to_list()
