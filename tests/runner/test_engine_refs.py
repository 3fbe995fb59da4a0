"""Typed engine references: found wherever they sit, checked, fingerprinted, cached and started;
chat and score capabilities."""

import types

import polars as pl
import pytest
from pydantic import BaseModel, Field

import curate
from curate.errors import RecipeError
from curate.testing import ScriptedEngine, ScriptedScorer


class Roles(BaseModel):
    user_engine: curate.EngineRef = Field(description="Plays the user.")


class DialogueParams(curate.Params):
    roles: Roles = Field(description="Who plays which part (a nested model: the planner still finds the refs).")
    assistant: curate.EngineRef = Field(curate.EngineRef("default"), description="Plays the assistant.")


class Dialogue(curate.Generator):
    """Asks the user engine for a follow-up and the assistant engine for an answer."""

    name = "test.dialogue"
    Params = DialogueParams
    reads = ("prompt",)
    writes = ("follow_up", "answer")

    def process_batch(self, df):
        ctx = self.ctx
        user = ctx.engine(self.params.roles.user_engine)
        assistant = ctx.engine(self.params.assistant)
        asks = user.generate([curate.ChatRequest(f"{i}-u", [{"role": "user", "content": p}])
                              for i, p in zip(df["id"], df["prompt"])],
                             lambda r: ctx.count("requests_cached" if r.cached else "requests_sent"))
        follow = [r.completions[0].text for r in asks]
        answers = assistant.generate([curate.ChatRequest(f"{i}-a", [{"role": "user", "content": f}])
                                      for i, f in zip(df["id"], follow)])
        return df.with_columns(pl.Series("follow_up", follow), pl.Series("answer", [r.completions[0].text for r in answers]))


class RewardParams(curate.Params):
    reward: curate.ScoreEngineRef = Field(curate.ScoreEngineRef("rm"), description="Reward model.")


class Reward(curate.Judge):
    """Scores each response with a score engine."""

    name = "test.reward"
    Params = RewardParams
    reads = ("prompt", "response")
    writes = ("reward",)

    def process_batch(self, df):
        engine = self.ctx.engine(self.params.reward)
        results = engine.score([curate.ScoreRequest(i, [{"role": "user", "content": p}], r)
                                for i, p, r in zip(df["id"], df["prompt"], df["response"])],
                               lambda r: self.ctx.count("requests_cached" if r.cached else "requests_sent"))
        return df.with_columns(pl.Series("reward", [r.scores["reward"] for r in results]))


plugin = types.SimpleNamespace(
    curate_register_generators=curate.hookimpl(lambda register: register(Dialogue)),
    curate_register_judges=curate.hookimpl(lambda register: register(Reward)),
)


@pytest.fixture
def registered(curate_plugin):
    curate_plugin(plugin)


def dialogue_recipe(write_recipe, write_jsonl, user="user"):
    write_jsonl([{"prompt": "hi"}, {"prompt": "yo"}])
    return write_recipe(f"""name: d
stages:
  - use: read.jsonl
    with: {{path: data.jsonl}}
  - use: test.dialogue
    with: {{roles: {{user_engine: {user}}}}}
  - use: write.parquet
    with: {{path: o.parquet}}
""")


def test_a_ref_in_any_param_is_checked_at_validation(registered, write_recipe, write_jsonl):
    recipe = dialogue_recipe(write_recipe, write_jsonl, user="ghost")
    with pytest.raises(RecipeError) as err:
        curate.run(recipe, engines={"default": ScriptedEngine()}, dry_run=True)
    assert "uses engine 'ghost', which the recipe does not declare" in str(err.value)
    assert "recipe.yaml:6 stages[1].with" in str(err.value)


def test_every_referenced_engine_is_started_cached_and_fingerprinted(registered, write_recipe, write_jsonl, tmp_path):
    recipe = dialogue_recipe(write_recipe, write_jsonl)
    user, assistant = ScriptedEngine(default=lambda r: "and then?", model="u1"), ScriptedEngine(model="a1")
    first = curate.run(recipe, run_dir=tmp_path / "run", engines={"default": assistant, "user": user})
    assert user.started and assistant.started
    assert first.stats["test.dialogue"].counters == {"requests_sent": 2}
    meta = curate.RunDir(tmp_path / "run").stage("test.dialogue").meta
    # A rerun with another model behind `user` reruns the stage; the same model again hits the cache.
    changed = curate.run(recipe, run_dir=tmp_path / "run",
                         engines={"default": assistant, "user": ScriptedEngine(default=lambda r: "x", model="u2")})
    assert not changed.stats["test.dialogue"].cached
    assert curate.RunDir(tmp_path / "run").stage("test.dialogue").meta["fingerprint"] != meta["fingerprint"]
    back = curate.run(recipe, run_dir=tmp_path / "run",
                      engines={"default": assistant, "user": ScriptedEngine(default=lambda r: "x", model="u1")})
    # The checkpoint now belongs to u2, so the stage reruns, but every u1 request is in the cache.
    assert not back.stats["test.dialogue"].cached and back.stats["test.dialogue"].counters == {"requests_cached": 2}
    assert back.outputs["write.parquet"]["follow_up"].to_list() == ["and then?", "and then?"]
    manifest = curate.RunDir(tmp_path / "run").manifest()
    assert manifest["stages"][1]["engines"] == {"default": "chat", "user": "chat"}


def test_score_engines_score_and_cache(registered, write_recipe, write_jsonl, tmp_path):
    write_jsonl([{"prompt": "p", "response": "short"}, {"prompt": "p", "response": "a longer one"}])
    recipe = write_recipe("name: r\nengines: {}\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: test.reward\n  - use: write.parquet\n    with: {path: o.parquet}\n")
    scorer = ScriptedScorer()
    out = curate.run(recipe, run_dir=tmp_path / "run", engines={"rm": scorer})
    assert out.outputs["write.parquet"]["reward"].to_list() == [5.0, 12.0]
    assert out.stats["test.reward"].counters == {"requests_sent": 2}
    again = curate.run(recipe, run_dir=tmp_path / "run", engines={"rm": ScriptedScorer(lambda r: 0.0)},
                       overrides={"stages.write.parquet.with.path": "o2.parquet"})
    assert again.stats["test.reward"].cached
    (tmp_path / "run" / "stages").rename(tmp_path / "old-stages")  # only the request cache is left
    third = curate.run(recipe, run_dir=tmp_path / "run", engines={"rm": ScriptedScorer(lambda r: 0.0)})
    assert third.stats["test.reward"].counters == {"requests_cached": 2}
    assert third.outputs["write.parquet"]["reward"].to_list() == [5.0, 12.0]


def test_a_chat_engine_where_a_score_engine_is_needed_is_a_validation_error(registered, write_recipe, write_jsonl):
    write_jsonl([{"prompt": "p", "response": "r"}])
    recipe = write_recipe("name: r\nengines:\n  rm: {use: openai, model: m, base_url: http://127.0.0.1:9/v1}\n"
                          "stages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n  - use: test.reward\n")
    with pytest.raises(RecipeError, match="needs a score engine for 'rm', but 'rm' \\(openai\\) is a chat engine"):
        curate.run(recipe, dry_run=True)


def test_score_engines_register_through_their_own_hook(curate_plugin):
    reg = curate_plugin(types.SimpleNamespace(
        curate_register_score_engines=curate.hookimpl(lambda register: register(ScriptedScorer))))
    assert reg.find("scripted-scorer", ("score_engine",)) is ScriptedScorer
    bad = types.SimpleNamespace(curate_register_score_engines=curate.hookimpl(lambda register: register(ScriptedEngine)))
    with pytest.raises(curate.PluginError, match="not a subclass of curate.ScoreEngine"):
        curate_plugin(bad, "bad")


def test_engines_are_not_pipeline_components():
    assert not issubclass(curate.Engine, curate.Component)
    for attr in ("input_columns", "output_columns", "cache_key", "setup", "teardown"):
        assert not hasattr(curate.ChatEngine, attr)


def test_engine_identity_is_final_before_start(tmp_path):
    from curate.testing.tiny_model import build_tiny_llama

    model = build_tiny_llama(tmp_path / "tiny")
    template = curate.read_chat_template(str(model))
    assert template and "{%" in template
    assert curate.read_chat_template(str(model), "custom") == "custom"
    assert curate.read_chat_template("org/hub-name") is None
    transformers_engine = pytest.importorskip("curate_transformers").TransformersEngine
    engine = transformers_engine(model=str(model))
    before = engine.identity()
    assert "chat_template" in before
    engine.start()
    try:
        assert engine.identity() == before
    finally:
        engine.close()
