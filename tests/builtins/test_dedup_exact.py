import polars as pl

from curate.testing import run_stage


def test_normalized_duplicates_are_removed_and_point_at_the_kept_row():
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["Hello  World", "hello world", "other", " HELLO world "]})
    out = run_stage("dedup.exact", df)
    assert out.kept["id"].to_list() == ["a", "c"]
    assert out.removed["id"].to_list() == ["b", "d"]
    assert out.removed["duplicate_of"].to_list() == ["a", "a"]
    assert out.removed["similarity"].to_list() == [1.0, 1.0]
    assert out.kept["exact_cluster"].n_unique() == 2


def test_case_sensitive_and_punctuation_options():
    df = pl.DataFrame({"id": ["a", "b"], "prompt": ["Hi!", "hi"]})
    assert run_stage("dedup.exact", df).kept.height == 2
    assert run_stage("dedup.exact", df, strip_punctuation=True).kept.height == 1
    assert run_stage("dedup.exact", df, strip_punctuation=True, lowercase=False).kept.height == 2


def test_nulls_and_messages_column():
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": [None, None, "x"]})
    out = run_stage("dedup.exact", df)
    assert out.kept["id"].to_list() == ["a", "c"]
    msgs = [[{"role": "user", "content": "q"}], [{"role": "user", "content": "Q"}]]
    out = run_stage("dedup.exact", pl.DataFrame({"id": ["1", "2"], "messages": msgs}), column="messages")
    assert out.kept.height == 1


def test_single_row():
    out = run_stage("dedup.exact", pl.DataFrame({"id": ["a"], "prompt": ["x"]}))
    assert out.kept.height == 1 and out.removed is None
