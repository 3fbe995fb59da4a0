"""Tokens and cost per engine and stage: counted by the cache wrapper, priced by the engine's
`pricing` (never part of its identity), recorded in StageStats.engines and run.json."""

import json

import pytest
from pydantic import Field, ValidationError

import curate
from curate.engine import ChatEngine, ChatRequest, ChatResult, Completion, EngineParams, Pricing
from curate.engines.cache import CachedEngine, usage_delta
from curate.runner.executor import LocalExecutor
from curate.testing import ScriptedEngine

PROMPTS = ["one two three", "four five", "six seven eight nine", "ten"]
PRICE = {"prompt_per_mtok": 3.0, "completion_per_mtok": 15.0}

RECIPE = """name: usage
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: gen
    use: generate.responses
    with: {engines: [default], n: 1, max_tokens: 16, output: %s}
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""


def priced(engine, **pricing):
    """The engine with a price table (its params are frozen: replaced whole)."""
    engine.params = type(engine).Params(**{**engine.params.model_dump(), "pricing": pricing or None})
    return engine


def expected_tokens(prompts, reply=lambda p: p):
    # ScriptedEngine counts words: the prompt's, and its reply's (an echo of the prompt by default)
    return sum(len(p.split()) for p in prompts), sum(len(reply(p).split()) for p in prompts)


@pytest.fixture
def recipe(write_jsonl, write_recipe):
    write_jsonl([{"prompt": p} for p in PROMPTS])
    return lambda output="rows": write_recipe(RECIPE % output)


def test_tokens_and_cost_per_stage_in_stats_and_run_json(recipe, tmp_path):
    engine = priced(ScriptedEngine(), **PRICE)
    result = curate.run(recipe(), run_dir=tmp_path / "run", engines={"default": engine})
    usage = result.stats["gen"].engines["default"]
    prompt, completion = expected_tokens(PROMPTS)
    assert usage["requests_sent"] == len(PROMPTS) and usage["requests_cached"] == 0
    assert usage["prompt_tokens"] == prompt and usage["completion_tokens"] == completion
    assert usage["cost_usd"] == pytest.approx((prompt * 3.0 + completion * 15.0) / 1e6)
    assert result.stats["read.jsonl"].engines == {}  # a stage without engines reports none
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    stage = next(s for s in manifest["stages"] if s["id"] == "gen")
    assert stage["stats"]["engines"]["default"] == usage
    meta = json.loads(next((tmp_path / "run" / "stages").glob("*-gen/meta.json")).read_text())
    assert meta["stats"]["engines"]["default"] == usage


def test_unpriced_engine_reports_tokens_but_no_cost(recipe, tmp_path):
    result = curate.run(recipe(), run_dir=tmp_path / "run", engines={"default": ScriptedEngine()})
    usage = result.stats["gen"].engines["default"]
    assert "cost_usd" not in usage and usage["prompt_tokens"] == expected_tokens(PROMPTS)[0]


def test_failed_requests_are_counted(recipe, tmp_path):
    engine = ScriptedEngine([ValueError("boom")], default=lambda r: r.messages[-1]["content"])
    result = curate.run(recipe(), run_dir=tmp_path / "run", engines={"default": engine})
    usage = result.stats["gen"].engines["default"]
    assert usage["requests_sent"] == len(PROMPTS) and usage["requests_failed"] == 1


def test_cached_answers_cost_nothing(recipe, tmp_path):
    run_dir = tmp_path / "run"
    curate.run(recipe("rows"), run_dir=run_dir, engines={"default": priced(ScriptedEngine(), **PRICE)})
    # Another output shape reruns the stage with the very same requests: all answered by the cache.
    again = curate.run(recipe("list"), run_dir=run_dir, engines={"default": priced(ScriptedEngine(), **PRICE)})
    stats = again.stats["gen"]
    assert not stats.cached
    usage = stats.engines["default"]
    assert usage["requests_cached"] == len(PROMPTS) and usage["requests_sent"] == 0
    assert usage["prompt_tokens"] == 0 and usage["completion_tokens"] == 0 and usage["cost_usd"] == 0


class EchoParams(EngineParams):
    model: str = Field("echo", description="Model name.")


class EchoEngine(ChatEngine):
    """A chat engine with the default identity (its params), unlike ScriptedEngine's own."""

    name = "echo"
    Params = EchoParams

    def generate(self, requests, on_result=None):
        out = [ChatResult(r.id, [Completion("ok", "stop")], prompt_tokens=10, completion_tokens=1) for r in requests]
        for r in out:
            on_result and on_result(r)
        return out


def test_pricing_is_not_part_of_the_identity():
    plain = EchoEngine(model="m")
    with_price = EchoEngine(model="m", pricing=PRICE)
    assert with_price.params.pricing.completion_per_mtok == 15.0
    assert plain.identity() == with_price.identity()
    assert "pricing" not in json.dumps(with_price.identity())
    assert EchoEngine(model="m2").identity() != plain.identity()  # (the identity does see real params)


def test_changing_the_price_reruns_nothing(recipe, tmp_path):
    run_dir = tmp_path / "run"
    first = ScriptedEngine()
    curate.run(recipe(), run_dir=run_dir, engines={"default": priced(ScriptedEngine(), **PRICE)})
    again = curate.run(recipe(), run_dir=run_dir,
                       engines={"default": priced(first, prompt_per_mtok=1.0, completion_per_mtok=2.0)})
    assert again.stats["gen"].cached and first.history == []


def test_every_engine_accepts_a_price_table_and_checks_it():
    from curate.plugins import registry

    engines = [cls for kind in ("engine", "score_engine") for cls in registry().items(kind)]
    assert any(cls.name == "openai" for cls in engines)
    for cls in engines:
        assert "pricing" in cls.Params.model_fields, cls.name
    with pytest.raises(ValidationError, match="prompt_per_mtok"):
        EchoEngine(pricing={"prompt_per_mtok": -1, "completion_per_mtok": 1})
    with pytest.raises(ValidationError, match="extra"):
        EchoEngine(pricing={**PRICE, "per_request": 1})


class BatchEngine(EchoEngine):
    """Answers as a batch API does: results flagged `batch`."""

    name = "echo-batch"

    def generate(self, requests, on_result=None):
        out = [ChatResult(r.id, [Completion("ok", "stop")], prompt_tokens=1000, completion_tokens=100, batch=True)
               for r in requests]
        for r in out:
            on_result and on_result(r)
        return out


def _requests(n, tag="p"):
    return [ChatRequest(f"r{i}", [{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


@pytest.mark.parametrize("batch_prices, per_request", [
    ({}, (1000 * 3.0 / 2 + 100 * 15.0 / 2) / 1e6),  # default: half the live price
    ({"batch_prompt_per_mtok": 1.0, "batch_completion_per_mtok": 4.0}, (1000 * 1.0 + 100 * 4.0) / 1e6),
])
def test_batch_results_are_priced_at_batch_rates(tmp_path, batch_prices, per_request):
    engine = CachedEngine(BatchEngine(pricing={**PRICE, **batch_prices}), tmp_path / "requests.sqlite")
    before = engine.usage_snapshot()
    engine.generate(_requests(4))
    usage = usage_delta(before, engine.usage_snapshot())
    assert usage["batch_requests"] == 4 and usage["requests_sent"] == 4
    assert usage["cost_usd"] == pytest.approx(4 * per_request)
    live = Pricing(**PRICE).cost(1000, 100)
    assert usage["cost_usd"] != pytest.approx(4 * live)


def test_batch_flag_round_trips_and_old_cache_rows_still_read():
    row = ChatResult("a", [Completion("x", "stop")], 3, 2).to_json()
    assert "batch" not in row  # rows of live answers are written exactly as before
    old = {"completions": [{"text": "x", "finish_reason": "stop", "logprobs": None}], "prompt_tokens": 3,
           "completion_tokens": 2, "error": None}
    assert ChatResult.from_json("a", old).batch is False
    flagged = ChatResult("b", [Completion("y")], batch=True)
    assert ChatResult.from_json("b", flagged.to_json()).batch is True


def test_usage_measured_by_a_remote_executor_is_added(recipe, tmp_path):
    remote = {"default": {"requests_sent": 5, "prompt_tokens": 50, "completion_tokens": 7},
              "other": {"requests_sent": 2}}

    class RemoteLike(LocalExecutor):  # as if part of the stage ran in workers that report their usage
        def run(self, task, inputs, reporter):
            done = super().run(task, inputs, reporter)
            if task.engines:
                done.engines = remote
            return done

    result = curate.run(recipe(), run_dir=tmp_path / "run", engines={"default": ScriptedEngine()},
                        executor=RemoteLike())
    usage = result.stats["gen"].engines
    prompt, completion = expected_tokens(PROMPTS)
    assert usage["default"]["requests_sent"] == len(PROMPTS) + 5
    assert usage["default"]["prompt_tokens"] == prompt + 50
    assert usage["default"]["completion_tokens"] == completion + 7
    assert usage["other"] == {"requests_sent": 2}


def test_the_wrapper_pickles_without_its_connection_or_counts(tmp_path):
    import pickle

    engine = CachedEngine(EchoEngine(), tmp_path / "requests.sqlite")
    engine.generate(_requests(3))
    copy = pickle.loads(pickle.dumps(engine))
    assert copy.usage_snapshot()["requests_sent"] == 0 and engine.usage_snapshot()["requests_sent"] == 3
    assert [r.cached for r in copy.generate(_requests(3))] == [True] * 3
    engine.close_cache()
    copy.close_cache()


def test_a_recipe_sets_pricing_on_an_engine(write_jsonl, write_recipe, tmp_path):
    write_jsonl([{"prompt": "hi"}])
    text = """name: priced
engines:
  gpt: {use: openai, model: m, base_url: "http://127.0.0.1:9/v1", api_key_env: null,
        pricing: {prompt_per_mtok: %s, completion_per_mtok: 0.6}}
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - use: generate.responses
    with: {engines: [gpt]}
"""
    curate.run(write_recipe(text % "0.15"), run_dir=tmp_path / "run", dry_run=True)  # plans, starts nothing
    with pytest.raises(curate.UserInputError, match="prompt_per_mtok"):
        curate.run(write_recipe(text % "-1"), run_dir=tmp_path / "run", dry_run=True)
