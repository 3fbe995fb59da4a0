"""filter.quality: every rule passes a row at its threshold and fails one past it with a reason
naming the rule and the measured value; the vectorized rules agree with a per-row reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing import run_stage
from curate_filters.quality import QualityFilter, QualityParams

REPO = Path(__file__).resolve().parents[3]
NO_RULES = dict(min_words=None, max_words=None, min_mean_word_length=None, max_mean_word_length=None,
                max_symbol_word_ratio=None, max_bullet_lines_ratio=None, max_ellipsis_lines_ratio=None,
                min_alpha_words_ratio=None, min_stop_words=None, max_dup_line_ratio=None,
                max_dup_line_char_ratio=None, max_top_ngram_char_ratio=None, max_dup_ngram_char_ratio=None)
GOOD = (
    "The committee met on Tuesday to review the budget for the coming year.\n"
    "Members discussed several proposals, including new funding for local schools and libraries.\n"
    "After a long debate, they agreed to postpone the final vote until next month, "
    "when more information about expected tax revenue will be available to everyone involved."
)


def reasons(texts: list[str | None], **params) -> list[str | None]:
    """The reason of each row (None: kept), through the real runner, in input order."""
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "response": texts},
                      schema={"id": pl.String, "response": pl.String})
    out = run_stage("filter.quality", df, **{**NO_RULES, **params}, action="flag")
    return out.kept.sort(pl.col("id").cast(pl.Int64))["quality_reason"].to_list()


@pytest.mark.parametrize("params, passing, failing, reason", [
    ({"min_words": 5}, "one two three four five", "one two three four", "quality: min_words (4 < 5)"),
    ({"max_words": 3}, "one two three", "one two three four", "quality: max_words (4 > 3)"),
    ({"min_mean_word_length": 3}, "abc abc abcd", "ab ab abc", "quality: min_mean_word_length (2.333 < 3.0)"),
    ({"max_mean_word_length": 10}, "abcdefghijkl xyz", "abcdefghijklmnop abcdefghijkl",
     "quality: max_mean_word_length (14.0 > 10.0)"),
    ({"max_symbol_word_ratio": 0.1}, "a b c d e f g h i j #k", "#tag #x and y",
     "quality: max_symbol_word_ratio (0.5 > 0.1)"),
    ({"max_symbol_word_ratio": 0.1}, "a b c d e f g h i j wait...", "wait... what… ok",
     "quality: max_symbol_word_ratio (0.667 > 0.1)"),
    ({"max_bullet_lines_ratio": 0.9}, "- a\n- b\nc", "- a\n* b\n\n  • c", "quality: max_bullet_lines_ratio (1.0 > 0.9)"),
    ({"max_ellipsis_lines_ratio": 0.3}, "a...\nb\nc\nd", "a...\nb…  \nc", "quality: max_ellipsis_lines_ratio (0.667 > 0.3)"),
    ({"min_alpha_words_ratio": 0.8}, "abc 123 déf ghi jkl", "abc 123 456 def", "quality: min_alpha_words_ratio (0.5 < 0.8)"),
    ({"min_stop_words": 2}, "THE cat and dog", "The cat sat there", "quality: min_stop_words (1 < 2)"),
    ({"max_dup_line_ratio": 0.3}, "a\nb\nc\n a ", "a\nb\na\nb", "quality: max_dup_line_ratio (0.5 > 0.3)"),
    ({"max_dup_line_char_ratio": 0.2}, "aaaa\nb\nc\nb", "aaaa\nb\naaaa", "quality: max_dup_line_char_ratio (0.444 > 0.2)"),
    ({"max_top_ngram_char_ratio": {2: 0.2}}, "the cat sat on a mat", "the cat the cat sat",
     "quality: max_top_ngram_char_ratio[2] (0.8 > 0.2)"),
    ({"max_dup_ngram_char_ratio": {5: 0.15}}, "a b c d e x a b c d f", "a b c d e x a b c d e",
     "quality: max_dup_ngram_char_ratio[5] (0.909 > 0.15)"),
])
def test_each_rule(params, passing, failing, reason):
    assert reasons([passing, failing], **params) == [None, reason]


def test_gopher_defaults_pass_prose_and_name_the_first_failing_rule():
    short_and_repeated = "the the the the"
    hashtags = GOOD + "\n#a #b #c #d #e #f"  # 52 + 6 words, 6 symbols
    assert reasons([GOOD, short_and_repeated, hashtags], **QualityParams().model_dump(
        exclude={"action", "column", "write_stats"})) == [
        None, "quality: min_words (4 < 50)", "quality: max_symbol_word_ratio (0.103 > 0.1)"]


def test_write_stats_adds_every_measured_value():
    out = run_stage("filter.quality", pl.DataFrame({"response": [GOOD, "a a a a"]}), write_stats=True,
                    min_words=3, action="flag")
    row = out.kept.row(0, named=True)
    assert row["quality_words"] == 52
    assert row["quality_stop_words"] == 9  # The, to, the, the / and / to, the, be, to
    assert row["quality_dup_line_ratio"] == 0.0
    assert row["quality_top_2gram_char_ratio"] == 0.0
    repeated = out.kept.row(1, named=True)
    assert repeated["quality_mean_word_length"] == 1.0
    assert repeated["quality_top_2gram_char_ratio"] == 1.0  # "a a" three times, clipped to 1
    assert repeated["quality_dup_5gram_char_ratio"] == 0.0  # four words: no 5-gram at all
    assert repeated["quality_reason"] == "quality: min_mean_word_length (1.0 < 3.0)"


def test_drop_keeps_removed_rows_with_reasons():
    out = run_stage("filter.quality", pl.DataFrame({"response": [GOOD, "tiny"]}))
    assert out.kept["response"].to_list() == [GOOD]
    assert out.removed["reason"].to_list() == ["quality: min_words (1 < 50)"]


def test_bad_input_empty_null_one_row_and_huge():
    assert reasons(["", None], min_words=1) == ["quality: min_words (0 < 1)"] * 2
    # nothing to measure: ratios over zero words or lines pass, so only the word count can fail
    assert reasons(["", None], max_symbol_word_ratio=0.1, max_bullet_lines_ratio=0.5) == [None, None]
    assert reasons([GOOD], min_words=50, max_dup_ngram_char_ratio={5: 0.15}) == [None]
    huge = " ".join(f"w{i:06d}" for i in range(60_000))  # ~480 kB, no stop word
    assert len(huge) > 400_000
    assert reasons([huge, GOOD], min_stop_words=2, max_dup_ngram_char_ratio={5: 0.1}) == [
        "quality: min_stop_words (0 < 2)", None]
    twice = huge + "\n" + huge
    assert reasons([twice], max_dup_ngram_char_ratio={5: 0.1}) == ["quality: max_dup_ngram_char_ratio[5] (1.0 > 0.1)"]


def test_non_text_column_is_a_clear_error():
    with pytest.raises(curate.DataError, match=r"column 'response' has type Int64, which is not text"):
        run_stage("filter.quality", pl.DataFrame({"response": [1, 2]}))


def test_zero_rows_reach_the_filter(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"response": "hello there"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: zero
stages:
  - use: read.jsonl
    with: {{path: {data}}}
  - use: filter.length
    with: {{column: response, max: 1}}
  - use: filter.quality
  - use: write.jsonl
    with: {{path: out.jsonl}}
""")
    result = curate.run(recipe, run_dir=tmp_path / "run")
    assert result.stats["filter.quality"].rows_in == 0
    assert result.outputs["write.jsonl"].height == 0


@pytest.mark.parametrize("params, message", [
    ({"min_words": 10, "max_words": 5}, "greater than"),
    ({"max_dup_ngram_char_ratio": {0: 0.1}}, "outside 1..50"),
    ({"stop_words": ["two words"]}, "single non-empty words"),
    (NO_RULES, "every rule is disabled"),
])
def test_invalid_params_fail_validation(params, message):
    with pytest.raises(curate.RecipeError, match=message):
        run_stage("filter.quality", pl.DataFrame({"response": ["x"]}), **params)


def test_matches_the_per_row_reference():
    spec = importlib.util.spec_from_file_location("bench_filters", REPO / "benchmarks" / "bench_filters.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    texts = bench.corpus(3000, seed=7)
    params = QualityParams()
    got = [bench.label(r) for r in QualityFilter(params).drop_reason(pl.DataFrame({"response": texts}))]
    expected = list(map(bench.python_quality(params), texts))
    assert got == expected
    assert len({e for e in expected if e}) >= 10  # the corpus exercises most rules


def test_repetition_is_measured_per_row():
    # each text is one 2-gram twice, the windows touching at the row boundary
    rows = ["x y x y", "p q p q", "p q r s"]
    assert reasons(rows, max_dup_ngram_char_ratio={2: 0.5}, max_top_ngram_char_ratio={2: 0.9}) == [
        "quality: max_top_ngram_char_ratio[2] (1.0 > 0.9)",
        "quality: max_top_ngram_char_ratio[2] (1.0 > 0.9)", None]
    assert reasons(rows, max_dup_ngram_char_ratio={2: 0.5}) == [
        "quality: max_dup_ngram_char_ratio[2] (1.0 > 0.5)",
        "quality: max_dup_ngram_char_ratio[2] (1.0 > 0.5)", None]


def test_lines_are_stripped_of_all_whitespace_as_python_strips():
    # "\x1c" is whitespace to str.split() and str.strip(): those lines are blank
    assert reasons(["a\n\x1c\n\x1c\n\x1c\nb"], max_dup_line_ratio=0.3) == [None]
    assert reasons(["a\n\x1c\x1c\n\x1c\x1c\n\x1cb"], max_dup_line_ratio=0.3) == [None]
    # and of the whitespace outside ASCII: "c" three times
    assert reasons(["a\n\u3000c\n c\u3000\n\x85c\xa0"], max_dup_line_ratio=0.4) == [
        "quality: max_dup_line_ratio (0.5 > 0.4)"]


def test_texts_measured_in_pieces_agree_with_the_per_row_reference(monkeypatch):
    from curate_filters import quality
    spec = importlib.util.spec_from_file_location("bench_filters", REPO / "benchmarks" / "bench_filters.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    texts = bench.corpus(600, seed=3)
    monkeypatch.setattr(quality, "CHUNK_BYTES", 5_000)  # dozens of pieces, some a single text
    params = QualityParams()
    flt = QualityFilter(params)
    for _ in range(2):  # the second time with the arrays the first left behind
        got = [bench.label(r) for r in flt.drop_reason(pl.DataFrame({"response": texts}))]
        assert got == list(map(bench.python_quality(params), texts))
    stats = quality.measure(pl.Series(texts), params, every_row=True)
    monkeypatch.setattr(quality, "CHUNK_BYTES", 1 << 30)
    assert stats.equals(quality.measure(pl.Series(texts), params, every_row=True))
