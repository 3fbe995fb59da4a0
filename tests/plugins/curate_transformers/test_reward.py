"""The ``transformers-reward`` score engine on tiny random sequence-classification models."""

from __future__ import annotations

import pytest

from curate.engine import EngineError, ScoreRequest
from curate.testing.tiny_model import HELPSTEER2_LABELS, build_tiny_reward_model

transformers = pytest.importorskip("transformers")
from curate_transformers import TransformersRewardEngine  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("reward-models")
    return {"scalar": build_tiny_reward_model(root / "rm-1"),
            "helpsteer": build_tiny_reward_model(root / "rm-5", num_labels=5,
                                                 id2label=dict(enumerate(HELPSTEER2_LABELS)))}


@pytest.fixture(scope="module")
def scalar(models):
    engine = TransformersRewardEngine(model=str(models["scalar"]), batch_size=4, max_model_len=96)
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def helpsteer(models):
    engine = TransformersRewardEngine(model=str(models["helpsteer"]), batch_size=3)
    engine.start()
    yield engine
    engine.close()


def pair(i: int, prompt: str = "What is bread made of?", response: str | None = None) -> ScoreRequest:
    text = response if response is not None else "Flour, water, salt and yeast. " * (1 + i % 4)
    return ScoreRequest(f"r{i}", [{"role": "user", "content": prompt}], text)


def reference(model_dir, requests):
    """Scores computed by hand: one unpadded forward pass per pair, the template applied to
    (conversation + response)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    for req in requests:
        ids = tok.apply_chat_template([*req.messages, {"role": "assistant", "content": req.response}], tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.inference_mode():
            out.append(model(input_ids=torch.tensor([list(ids)])).logits[0].tolist())
    return out


def test_scalar_head_gives_one_reward_per_pair_matching_a_plain_forward(scalar, models):
    requests = [pair(i) for i in range(6)]
    seen = []
    results = scalar.score(requests, on_result=seen.append)
    assert [r.id for r in results] == [r.id for r in requests] and len(seen) == 6
    assert all(r.ok and list(r.scores) == ["reward"] for r in results)
    expected = reference(models["scalar"], requests)
    for result, (value,) in zip(results, expected):
        assert result.scores["reward"] == pytest.approx(value, abs=1e-4)
    assert len({round(r.scores["reward"], 4) for r in results}) > 1  # the response changes the score


def test_the_response_is_part_of_what_is_scored(scalar):
    a, b = scalar.score([pair(0, response="Flour and water."), pair(1, response="I do not know.")])
    assert a.scores["reward"] != pytest.approx(b.scores["reward"], abs=1e-6)


def test_five_attribute_head_is_named_by_id2label(helpsteer, models):
    requests = [pair(i) for i in range(4)]
    results = helpsteer.score(requests)
    assert helpsteer.attributes == HELPSTEER2_LABELS
    assert all(tuple(r.scores) == HELPSTEER2_LABELS for r in results)
    for result, row in zip(results, reference(models["helpsteer"], requests)):
        assert list(result.scores.values()) == pytest.approx(row, abs=1e-4)


def test_attributes_param_renames_the_outputs_and_must_match_the_head(models):
    engine = TransformersRewardEngine(model=str(models["helpsteer"]), attributes=["a", "b", "c", "d", "e"])
    [result] = engine.score([pair(0)])
    assert list(result.scores) == ["a", "b", "c", "d", "e"]
    with pytest.raises(EngineError, match="names 2 outputs but the model's head has 5"):
        TransformersRewardEngine(model=str(models["helpsteer"]), attributes=["x", "y"]).start()


def test_batching_sorted_by_length_equals_scoring_one_by_one(models):
    # Lengths deliberately mixed, so batches are padded and reordered.
    requests = [pair(i, prompt="Tell me about the library. " * (i % 5 + 1)) for i in range(7)]
    batched = TransformersRewardEngine(model=str(models["helpsteer"]), batch_size=4)
    single = TransformersRewardEngine(model=str(models["helpsteer"]), batch_size=1)
    together = batched.score(requests)
    alone = [single.score([r])[0] for r in requests]
    assert [r.id for r in together] == [r.id for r in requests]
    for a, b in zip(together, alone):
        assert a.scores.keys() == b.scores.keys()
        assert list(a.scores.values()) == pytest.approx(list(b.scores.values()), abs=1e-4)


def test_identity_is_final_before_start(models):
    engine = TransformersRewardEngine(model=str(models["scalar"]), batch_size=2, device="cpu")
    before = engine.identity()
    engine.start()
    assert engine.identity() == before
    assert before["backend"] == "transformers-reward" and before["model"] == str(models["scalar"])
    assert "chat_template" in before and "batch_size" not in before and "device" not in before
    other = TransformersRewardEngine(model=str(models["scalar"]), batch_size=64).identity()
    assert other == before  # batch size does not change scores


def test_too_long_pair_fails_alone(scalar):
    requests = [pair(0), pair(1, response="word " * 200), pair(2)]
    seen = []
    results = scalar.score(requests, on_result=seen.append)
    assert results[0].ok and results[2].ok
    assert not results[1].ok and "over the context length 96" in results[1].error and not results[1].scores
    assert len(seen) == 3


def test_missing_model_is_a_start_error(tmp_path):
    with pytest.raises(EngineError, match="could not load model"):
        TransformersRewardEngine(model=str(tmp_path / "nope")).start()
