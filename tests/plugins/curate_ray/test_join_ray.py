"""curate_ray.join.join_datasets (the ray executor's distributed join) gives what curate.merge_inputs
gives locally: inner, left and full joins over several blocks and partitions, with duplicate keys,
null keys, keys on one side only, several key columns, three inputs, empty inputs, and key types
that polars joins (Int32 with Int64) or refuses (a clear DataError naming the stage and columns)."""

from __future__ import annotations

import polars as pl
import pytest

import curate

pytest.importorskip("ray")
from curate_ray.executor import RayDataset  # noqa: E402
from curate_ray.join import join_datasets  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray cluster, a shuffle per join (tiny data: a second or two each)

HOWS = ["inner", "left", "full"]

A = pl.DataFrame({
    "k": [1, 2, 2, None, 5, 7, 8, None, 2, 11],
    "text": [f"a{i}" for i in range(10)],
    "x": list(range(10)),
})
B = pl.DataFrame({
    "k": [2, 2, None, 5, 9, 8, 13, None],
    "text": [f"b{i}" for i in range(8)],
    "y": [float(i) for i in range(8)],
})


def as_input(df: pl.DataFrame, blocks: int = 3) -> RayDataset:
    """An upstream stage's output: a lazy dataset of ``blocks`` Arrow blocks."""
    import ray.data

    size = max(1, -(-df.height // blocks))
    tables = [df.slice(s, size).to_arrow() for s in range(0, df.height, size)] or [df.to_arrow()]
    return RayDataset(ray.data.from_arrow(tables))


def collect(ds) -> pl.DataFrame:
    import ray

    frames = [pl.from_arrow(ray.get(ref)) for ref in ds.to_arrow_refs()]
    return pl.concat(frames, how="vertical")


def rows(df: pl.DataFrame) -> list[str]:
    """The rows as a multiset (duplicates count), order left out: a local join defines none."""
    return sorted(map(repr, df.iter_rows()))


def assert_like_local(frames: list[pl.DataFrame], join: dict, names: tuple[str, ...], partitions: int,
                      blocks: int = 3) -> pl.DataFrame:
    want = curate.merge_inputs(frames, join, names)
    got = collect(join_datasets([as_input(f, blocks) for f in frames], join, names, "joined", partitions=partitions))
    assert got.columns == want.columns  # same suffixes, same column order
    assert got.schema == want.schema
    assert rows(got) == rows(want)
    return got


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("partitions", [1, 4, 7])
def test_join_equals_local(ray_local, how, partitions):
    got = assert_like_local([A, B], {"on": ["k"], "how": how}, ("a", "b"), partitions)
    # k=2 is 3 x 2 rows; null keys never match (polars' default), so they stay unmatched rows
    assert got.height == {"inner": 8, "left": 13, "full": 17}[how]


@pytest.mark.parametrize("how", HOWS)
def test_several_keys_and_three_inputs(ray_local, how):
    a = A.with_columns(pl.col("x").mod(2).alias("g"))
    b = B.with_columns(pl.when(pl.col("y") < 6).then(pl.col("y").cast(pl.Int64).mod(2)).alias("g"))
    assert_like_local([a, b], {"on": ["k", "g"], "how": how}, ("a", "b"), 5)
    c = pl.DataFrame({"k": [2, 5, None, 21, 2], "text": [f"c{i}" for i in range(5)], "z": [True, False] * 2 + [True]})
    got = assert_like_local([A, B, c], {"on": ["k"], "how": how}, ("a", "b", "c"), 4, blocks=2)
    assert {"text_b", "text_c"} <= set(got.columns)


@pytest.mark.parametrize("how", HOWS)
def test_empty_input(ray_local, how):
    assert_like_local([A, B.clear()], {"on": ["k"], "how": how}, ("a", "b"), 4)
    assert_like_local([A.clear(), B], {"on": ["k"], "how": how}, ("a", "b"), 4)


def test_integer_key_types_join_as_locally(ray_local):
    b = B.with_columns(pl.col("k").cast(pl.Int32))
    for how in HOWS:
        assert_like_local([A, b], {"on": ["k"], "how": how}, ("a", "b"), 4)


def test_key_types_that_cannot_join_fail_clearly(ray_local):
    b = B.with_columns(pl.col("k").cast(pl.Utf8))
    with pytest.raises(curate.DataError, match=r"stage 'joined'.*\['k'\].*a: Int64.*b: String"):
        join_datasets([as_input(A), as_input(b)], {"on": ["k"], "how": "inner"}, ("a", "b"), "joined", partitions=2)
    with pytest.raises(curate.DataError, match=r"stage 'joined' joins on \['x'\], which input 'b' lacks"):
        join_datasets([as_input(A), as_input(B)], {"on": ["x"], "how": "inner"}, ("a", "b"), "joined", partitions=2)


def test_order_is_deterministic(ray_local):
    join = {"on": ["k"], "how": "full"}
    first = collect(join_datasets([as_input(A), as_input(B)], join, ("a", "b"), "joined", partitions=3))
    again = collect(join_datasets([as_input(A), as_input(B)], join, ("a", "b"), "joined", partitions=3))
    assert first.equals(again)
