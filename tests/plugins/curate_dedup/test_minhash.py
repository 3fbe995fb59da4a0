"""dedup.minhash: near-duplicates found and pointed at the first row of their cluster, transitive
duplicates merged, distinct texts kept; the vectorized shingling agrees with a per-text
reference; bad input works or fails with a clear message."""

from __future__ import annotations

import json
import random

import numpy as np
import polars as pl
import pytest
from curate_dedup import MinHashDedup
from curate_dedup import _minhash_core as core

import curate
from curate.testing import run_stage

# Word sets with known Jaccard (ngram=1): |A&B| = 18, |A|B| = 22 -> 0.818; A and C: 16/24 -> 0.667.
A = " ".join(f"w{i}" for i in range(1, 21))
B = " ".join(f"w{i}" for i in range(3, 23))
C = " ".join(f"w{i}" for i in range(5, 25))
# Many bands of few rows: pairs far below the threshold still become LSH candidates, so these
# tests exercise the verification, not LSH luck.
SETS = dict(ngram=1, threshold=0.75, bands=32, rows=4)


def words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def test_near_duplicates_point_at_the_first_row_with_their_jaccard():
    df = pl.DataFrame({"id": ["a", "b", "z"], "prompt": [A, B, "something else entirely, nothing shared"]})
    out = run_stage("dedup.minhash", df, **SETS)
    assert out.kept["id"].to_list() == ["a", "z"]
    assert out.removed["id"].to_list() == ["b"]
    assert out.removed["duplicate_of"].to_list() == ["a"]
    assert out.removed["similarity"].to_list() == pytest.approx([18 / 22])
    assert out.removed["minhash_cluster"][0] == out.kept["minhash_cluster"][0]
    assert out.kept["minhash_cluster"].n_unique() == 2
    assert out.removed["reason"][0] == "duplicate (dedup.minhash)"


def test_transitive_duplicates_end_in_one_cluster_kept_row_first():
    # C matches B (0.818) but not A (0.667): union-find still puts it in A's cluster.
    df = pl.DataFrame({"id": ["c", "a", "b"], "prompt": [C, A, B]})
    out = run_stage("dedup.minhash", df, **SETS)
    assert out.kept["id"].to_list() == ["c"]
    assert sorted(out.removed["id"].to_list()) == ["a", "b"]
    assert set(out.removed["duplicate_of"].to_list()) == {"c"}
    sim = dict(zip(out.removed["id"], out.removed["similarity"]))
    assert sim["b"] == pytest.approx(18 / 22)
    assert sim["a"] == pytest.approx(16 / 24)  # the similarity to the kept row, below the threshold


def test_verification_drops_candidates_below_the_threshold():
    df = pl.DataFrame({"id": ["a", "c"], "prompt": [A, C]})  # Jaccard 0.667 < 0.75
    assert run_stage("dedup.minhash", df, **SETS).removed is None
    unverified = run_stage("dedup.minhash", df, **SETS, verify=False)  # a shared band suffices
    assert unverified.removed["id"].to_list() == ["c"]
    assert 0.4 < unverified.removed["similarity"][0] < 0.95  # the MinHash estimate of 0.667


def test_threshold_decides_and_distinct_texts_survive():
    base = words(60, 1)
    near = list(base)
    near[30] = "changed"  # 5 of 56 word 5-grams change: Jaccard 51/61
    other = words(60, 2)
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": [" ".join(base), " ".join(near), " ".join(other)]})
    assert run_stage("dedup.minhash", df, threshold=0.8).removed["id"].to_list() == ["b"]
    assert run_stage("dedup.minhash", df, threshold=0.9).removed is None


def test_normalization_options():
    df = pl.DataFrame({"id": ["a", "b"], "prompt": ["Hello, World! How are you today, my friend?",
                                                    "hello world how are you today my friend"]})
    assert run_stage("dedup.minhash", df).removed["similarity"].to_list() == [1.0]
    assert run_stage("dedup.minhash", df, lowercase=False).removed is None
    assert run_stage("dedup.minhash", df, strip_punctuation=False).removed is None


def test_char_shingles_catch_typos():
    text = "The mitochondria is the powerhouse of the cell and produces most of its energy."
    typo = text.replace("powerhouse", "powerhuose").replace("energy", "enrgy")
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": [text, typo, "Completely unrelated sentence here."]})
    out = run_stage("dedup.minhash", df, shingle="char", ngram=5, threshold=0.7)
    assert out.removed["id"].to_list() == ["b"]
    assert run_stage("dedup.minhash", df, shingle="word", ngram=5, threshold=0.7).removed is None


def test_bands_rows_derivation_matches_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold in (0.5, 0.7, 0.8, 0.9):
        for num_perm in (64, 128, 256):
            ours = MinHashDedup(threshold=threshold, num_perm=num_perm).bands_rows()
            assert ours == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
    assert MinHashDedup(bands=4, rows=8).bands_rows() == (4, 8)


@pytest.mark.parametrize("params, message", [
    ({"bands": 4}, "both `bands` and `rows`"),
    ({"bands": 20, "rows": 10}, "exceeds num_perm"),
    ({"threshold": 1.5}, "threshold"),
    ({"shingle": "line"}, "shingle"),
])
def test_bad_params_fail_at_validation(params, message):
    with pytest.raises(curate.RecipeError, match=message):
        run_stage("dedup.minhash", pl.DataFrame({"id": ["a"], "prompt": ["x"]}), **params)


def test_shingle_hashes_agree_with_a_per_text_reference():
    rng = random.Random(0)
    vocab = words(40, 3) + ["日本語", "テキスト", "naïve", "über", "ça"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 30))) for _ in range(300)] + ["", "a"]
    series = pl.Series(texts)
    for kind, n in (("word", 1), ("word", 3), ("word", 5), ("char", 1), ("char", 4), ("char", 9)):
        lens, doc, h = core.shingle_hashes(series, kind, n)
        values, offsets = core.unique_sets(doc, h, len(texts))
        ref = []
        for t in texts:
            units = t.split(" ") if kind == "word" else list(t)
            if not t:
                ref.append(set())
            elif len(units) < n:
                ref.append({t})
            else:
                ref.append({(" " if kind == "word" else "").join(units[i:i + n]) for i in range(len(units) - n + 1)})
        assert [offsets[i + 1] - offsets[i] for i in range(len(texts))] == [len(r) for r in ref], (kind, n)
        left, right = np.arange(0, 300, 2), np.arange(1, 301, 2)
        expected = [len(ref[a] & ref[b]) / len(ref[a] | ref[b]) for a, b in zip(left, right)]
        assert core.jaccard_sets(values, offsets, left, right) == pytest.approx(expected), (kind, n)
        assert lens.tolist() == [len(t.encode()) for t in texts]


def _corpus(n: int = 400) -> list[str]:
    rng = random.Random(7)
    docs = [words(rng.randint(60, 150), i) for i in range(n)]
    for i in range(0, n, 5):  # every fifth doc gets a copy with one word changed (Jaccard >= 0.83)
        copy = list(docs[i])
        copy[rng.randrange(len(copy))] = "edit"
        docs.append(copy)
    rng.shuffle(docs)
    return [" ".join(d) for d in docs]


def test_results_do_not_depend_on_chunks_threads_or_bucket_strategy(monkeypatch):
    texts = _corpus()
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    reference = MinHashDedup(column="text", threshold=0.7).find_duplicates(df)
    assert reference["duplicate_of"].null_count() <= len(texts) - 76  # (nearly) all 80 copies are found
    monkeypatch.setattr(core, "CHUNK_CHARS", 3_000)  # many chunks, docs spanning matrix blocks
    monkeypatch.setattr(core, "BLOCK_SHINGLES", 64)
    monkeypatch.setattr(core, "PAIR_BATCH", 500)
    monkeypatch.setattr(core, "MAX_BUCKET_PAIRS", 1)  # every bucket verified leader by leader
    monkeypatch.setattr(core.MinHashLSH, "workers", 2)
    assert MinHashDedup(column="text", threshold=0.7).find_duplicates(df).equals(reference)
    other_seed = MinHashDedup(column="text", threshold=0.7, seed=1).find_duplicates(df)
    assert other_seed["duplicate_of"].null_count() == reference["duplicate_of"].null_count()


def test_a_bucket_of_hundreds_of_copies():
    # 300 copies share every band: beyond MAX_BUCKET_PAIRS, verified leader by leader.
    copy = " ".join(words(40, 11))
    texts = [copy] * 300 + [" ".join(words(40, 100 + i)) for i in range(50)]
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    for verify in (True, False):
        found = MinHashDedup(column="text", verify=verify).find_duplicates(df)
        assert found["duplicate_of"].to_list() == [None] + ["0"] * 299 + [None] * 50
        assert found["cluster"].to_list()[:300] == [0] * 300


def test_empty_and_null_texts_are_never_duplicates():
    df = pl.DataFrame({"id": list("abcdef"), "prompt": [None, "", "   ", "!!!", None, "real text here"]})
    out = run_stage("dedup.minhash", df)
    assert out.removed is None and out.kept.height == 6
    assert out.result.stats["stage"].counters["empty_texts"] == 5


def test_non_string_columns_are_cast_or_rejected():
    out = run_stage("dedup.minhash", pl.DataFrame({"id": ["a", "b", "c"], "n": [12, 12, 7]}), column="n")
    assert out.removed["id"].to_list() == ["b"]
    lists = pl.DataFrame({"id": ["a", "b"], "tags": [["x y z", "w"], ["x y z", "w"]]})
    assert run_stage("dedup.minhash", lists, column="tags").removed["id"].to_list() == ["b"]
    structs = pl.DataFrame({"id": ["a"], "meta": [{"k": 1}]})
    with pytest.raises(curate.DataError, match="column 'meta' has type Struct.*not text"):
        run_stage("dedup.minhash", structs, column="meta")


def test_conversation_text_from_messages():
    msgs = [[{"role": "user", "content": "Tell me about the history of Rome in detail please"}]] * 2
    responses = ["It began as a small town.", "It began as a small town!"]
    df = pl.DataFrame({"id": ["a", "b"], "messages": msgs, "response": responses})
    assert run_stage("dedup.minhash", df, column="conversation").removed["id"].to_list() == ["b"]
    with pytest.raises(curate.RecipeError, match="needs column 'nope'"):
        run_stage("dedup.minhash", df, column="nope")


def test_one_row_and_zero_rows():
    out = run_stage("dedup.minhash", pl.DataFrame({"id": ["a"], "prompt": ["only one"]}))
    assert out.kept.height == 1 and out.removed is None
    empty = pl.DataFrame({"id": [], "prompt": []}, schema={"id": pl.Utf8, "prompt": pl.Utf8})
    for verify in (True, False):
        found = MinHashDedup(verify=verify).find_duplicates(empty)
        assert found.height == 0 and found.columns == ["cluster", "duplicate_of", "similarity"]
        assert MinHashDedup(verify=verify).find_duplicates(empty.vstack(pl.DataFrame({"id": ["a"], "prompt": ["x"]}))
                                                           )["duplicate_of"].to_list() == [None]


def test_zero_rows_reaching_the_stage_in_a_recipe(tmp_path, write_jsonl, write_recipe):
    data = write_jsonl([{"prompt": "short"}, {"prompt": "tiny"}])
    recipe = write_recipe(f"""
name: nothing-left
stages:
  - use: read.jsonl
    with: {{path: {data.name}}}
  - use: filter.length
    with: {{column: prompt, min: 1000}}
  - use: dedup.minhash
""")
    result = curate.run(recipe, run_dir=tmp_path / "run")
    assert result.stats["dedup.minhash"].rows_in == 0 and result.stats["dedup.minhash"].rows_out == 0


def test_texts_of_hundreds_of_kilobytes():
    big = " ".join(words(60_000, 5))  # ~400 KB
    edited = big.replace(big[200_000:200_040], "an edit in the middle of the text", 1)
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": [big, edited, " ".join(words(50_000, 6))]})
    out = run_stage("dedup.minhash", df)
    assert out.removed["id"].to_list() == ["b"]
    assert out.removed["similarity"][0] > 0.99


def test_in_a_recipe_after_exact_dedup(tmp_path, write_jsonl, write_recipe):
    rows = [{"prompt": t} for t in _corpus(60)] + [{"prompt": "exact copy " * 10}, {"prompt": "exact copy " * 10}]
    data = write_jsonl(rows)
    recipe = write_recipe(f"""
name: dedup-test
stages:
  - use: read.jsonl
    with: {{path: {data.name}}}
  - use: dedup.exact
  - use: dedup.minhash
    id: fuzzy
    with: {{threshold: 0.7}}
  - use: write.jsonl
    with: {{path: out.jsonl}}
""")
    result = curate.run(recipe, run_dir=tmp_path / "run")
    written = [json.loads(line) for line in (tmp_path / "run" / "out.jsonl").read_text().splitlines()]
    removed = pl.read_parquet(next((tmp_path / "run" / "stages").glob("02-fuzzy")) / "removed.parquet")
    assert result.stats["dedup.exact"].rows_removed == 1
    assert result.stats["fuzzy"].rows_removed == removed.height >= 11  # of the 12 edited copies
    assert removed["similarity"].min() >= 0.7
    assert len(written) == len(rows) - 1 - removed.height
    assert set(removed["duplicate_of"]) <= {r["id"] for r in written}


@pytest.mark.parametrize("params", [{}, {"verify": False}, {"shingle": "char", "ngram": 7, "threshold": 0.7},
                                    {"threshold": 0.5, "verify": False}])
@pytest.mark.parametrize("in_a_run", [False, True])
def test_prepared_batches_give_what_the_whole_frame_gives(params, in_a_run, tmp_path):
    """What a distributed executor relies on: prepare_batch over any split of the rows (each in
    its own stage instance), then find_duplicates over all of them, equals the whole frame at once.
    In a run, with `verify`, prepare_batch also writes the shingle sets to the stage folder for
    the exact Jaccard; without a run (or once they are gone) they are made again from the text."""
    texts = _corpus(150) + [None, "", "!!!"]
    random.Random(3).shuffle(texts)
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts},
                      schema={"id": pl.Utf8, "text": pl.Utf8})
    params = {"column": "text", **params}
    whole = MinHashDedup(params).find_duplicates(df)
    assert whole["duplicate_of"].is_not_null().sum() > 10
    info = curate.StageInfo(stage_id="fuzzy", recipe_name="t", recipe_dir=tmp_path, run_dir=tmp_path,
                            stage_dir=tmp_path / "stages" / "01-fuzzy")

    def stage() -> MinHashDedup:
        made = MinHashDedup(params)
        if in_a_run:
            made.setup(curate.StageContext(info))
        return made

    batches = [df.slice(0, 61), df.slice(61, 0), df.slice(61, 100), df.slice(161, 1_000)]
    prepared = pl.concat([stage().prepare_batch(b) for b in batches], how="diagonal_relaxed")
    sketch = prepared["__minhash"]
    last = stage()
    verify = last.params.verify
    assert sketch.dtype == (pl.Array(pl.UInt64, last.bands_rows()[0]) if verify
                            else pl.Array(pl.UInt32, last.params.num_perm))
    assert sketch.null_count() == 3  # the empty texts
    assert ("__minhash_sets" in prepared.columns) == (in_a_run and verify)
    if in_a_run and verify:
        assert len(list((info.stage_dir / "minhash").iterdir())) == len(batches)  # a file per batch
    assert last.find_duplicates(prepared).equals(whole)
    assert not (info.stage_dir / "minhash").exists()  # the stage's files are deleted when it is done
    out = last.process(prepared)  # (the files are gone: the sets are made again)
    assert out.removed["id"].to_list() == df.filter(whole["duplicate_of"].is_not_null())["id"].to_list()
    assert not [c for c in out.kept.columns + out.removed.columns if c.startswith("__")]


@pytest.mark.parametrize("column, message", [
    ("tags", r"column 'tags' has type List\(Int64\), which is not text"),
    ("meta", r"column 'meta' has type Struct.*, which is not text"),
])
def test_non_text_columns_are_a_data_error_exit_code_2(column, message, tmp_path, capsys):
    from curate.cli import main

    df = pl.DataFrame({"id": ["a", "b"], "tags": [[1, 2], [1, 2]], "meta": [{"k": 1}, {"k": 1}]})
    with pytest.raises(curate.DataError, match=r"stage 'stage' \(dedup.minhash\): " + message) as info:
        run_stage("dedup.minhash", df, column=column)
    assert "`text`" not in str(info.value)  # the param is `column`
    df.write_parquet(tmp_path / "in.parquet")
    (tmp_path / "recipe.yaml").write_text(json.dumps({"name": "bad", "stages": [
        {"use": "read.parquet", "with": {"path": str(tmp_path / "in.parquet")}},
        {"use": "dedup.minhash", "with": {"column": column}}]}))
    assert main(["run", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path / "run")]) == 2
    assert "which is not text" in capsys.readouterr().err
