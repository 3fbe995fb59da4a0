"""`curate show`: a stage's rows or removed rows, readably; filters that never evaluate Python."""

import polars as pl
import pytest

import curate
from curate.cli import main
from curate.errors import UserInputError
from curate.show import parse_where, select

RECIPE = """name: shown
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: dedup
    use: dedup.exact
    with: {column: prompt}
  - id: short
    use: filter.length
    with: {column: response, min: 3}
  - use: write.jsonl
    with: {path: out.jsonl, format: sft}
"""

ROWS = [
    {"prompt": "What is 2+2?", "response": "It is 4.", "score": 0.9, "task": "math"},
    {"prompt": "what is 2+2?", "response": "Four.", "score": 0.5, "task": "math"},
    {"prompt": "Write a poem about [pipes]", "response": "Pipes carry water [far]\nand wide.", "score": 0.2,
     "task": "poetry"},
    {"prompt": "Say hi", "response": "hi", "score": 0.1, "task": "chat"},
    {"prompt": "Essay please", "response": "word " * 400, "score": None, "task": "chat"},
]


@pytest.fixture
def run_dir(tmp_path, write_jsonl, write_recipe):
    write_jsonl(ROWS)
    curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run")
    return tmp_path / "run"


def show(capsys, *args):
    code = main(["show", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_is_the_last_stage_with_chat_turns_and_other_columns(run_dir, capsys):
    code, out, _ = show(capsys, run_dir, "-n", "10")
    assert code == 0
    assert "stage 'write.jsonl' (write.jsonl): 3 of 3 rows" in out
    assert "user" in out and "assistant" in out and "What is 2+2?" in out and "It is 4." in out
    assert "Write a poem about [pipes]" in out  # data is never read as rich markup
    assert "task:" in out and "poetry" in out and "score:" in out
    assert "Say hi" not in out  # removed upstream


def test_stage_by_id_or_folder_name_and_n(run_dir, capsys):
    _, by_id, _ = show(capsys, run_dir, "dedup", "-n", "1")
    _, by_folder, _ = show(capsys, run_dir, "01-dedup", "-n", "1")
    assert "stage 'dedup' (dedup.exact): 1 of 4 rows" in by_id
    assert by_id == by_folder


def test_unknown_stage_lists_the_stages(run_dir, capsys):
    code, _, err = show(capsys, run_dir, "dedupe")
    assert code == 2
    assert "no finished stage 'dedupe'" in err and "dedup (01-dedup)" in err and "short (02-short)" in err
    assert "Traceback" not in err


def test_removed_rows_with_reasons_and_reason_filter(run_dir, capsys):
    code, out, _ = show(capsys, run_dir, "short", "--removed")
    assert code == 0 and "1 of 1 removed rows" in out and "reason:" in out and "Say hi" in out
    _, out, _ = show(capsys, run_dir, "dedup", "--removed", "--reason", "DUPLICATE")
    assert "1 of 1 removed rows" in out and "what is 2+2?" in out and "duplicate_of:" in out
    _, out, _ = show(capsys, run_dir, "dedup", "--removed", "--reason", "too short")
    assert "0 of 0 removed rows" in out


def test_a_stage_that_removed_nothing_says_so(run_dir, capsys):
    code, out, _ = show(capsys, run_dir, "read.jsonl", "--removed")
    assert code == 0 and "stage 'read.jsonl' (read.jsonl) removed no rows" in out


def test_reason_needs_removed(run_dir, capsys):
    code, _, err = show(capsys, run_dir, "dedup", "--reason", "x")
    assert code == 2 and "--removed" in err


def test_where_filters_by_number_text_regex_and_null(run_dir):
    rd = curate.RunDir(run_dir)
    ids = lambda **kw: sorted(select(rd, "dedup", limit=100, **kw).rows["prompt"].to_list())  # noqa: E731
    assert ids(where="score > 0.15") == ["What is 2+2?", "Write a poem about [pipes]"]
    assert ids(where='task == math and score >= 0.9') == ["What is 2+2?"]
    assert ids(where='prompt ~ "(?i)poem|essay"') == ["Essay please", "Write a poem about [pipes]"]
    assert ids(where="score == null") == ["Essay please"]
    assert ids(where="task != chat and score < 0.5") == ["Write a poem about [pipes]"]
    assert select(rd, "dedup", where="task == chat", limit=1).matched == 2  # counts every match, shows 1


def test_where_searches_conversations_and_struct_fields():
    df = pl.DataFrame({"messages": [[{"role": "user", "content": "hello there"}],
                                    [{"role": "user", "content": "bye"}]],
                       "provenance": [{"recipe": "a"}, {"recipe": "b"}]})
    assert df.filter(parse_where('messages ~ "hello"', df.schema)).height == 1
    assert df.filter(parse_where("provenance.recipe == b", df.schema))["messages"][0][0]["content"] == "bye"


@pytest.mark.parametrize("expr, message", [
    ("nope == 1", "no column 'nope'; columns: prompt, response, score, task"),
    ("score > high", "column 'score' is numeric"),
    ("score >", "expected `column op value`"),
    ("score > 1 or task == math", "expected `and`"),
    ("__import__('os').system('true')", "expected `column op value`"),
    ('prompt ~ "(unclosed"', "could not be applied"),
])
def test_bad_where_is_a_clear_error(run_dir, capsys, expr, message):
    code, _, err = show(capsys, run_dir, "dedup", "--where", expr)
    assert code == 2 and message in err and "Traceback" not in err


def test_long_texts_are_folded_unless_full(run_dir, capsys):
    _, out, _ = show(capsys, run_dir, "dedup", "--where", "task == chat and score == null")
    assert "chars; --full shows all]" in out and out.count("word") < 200
    _, out, _ = show(capsys, run_dir, "dedup", "--where", "task == chat and score == null", "--full")
    assert out.count("word") == 400


def test_preference_pairs_side_by_side_with_scores(tmp_path, write_recipe, capsys):
    pl.DataFrame({
        "prompt": ["Which is bigger, 3 or 5?"],
        "chosen": [[{"role": "assistant", "content": "5 is bigger."}]],
        "rejected": ["3 is bigger."],
        "score_chosen": [0.75], "score_rejected": [0.25],
    }).write_parquet(tmp_path / "pairs.parquet")
    recipe = write_recipe("name: pairs\nstages:\n  - use: read.parquet\n    with: {path: pairs.parquet}\n")
    curate.run(recipe, run_dir=tmp_path / "run")
    code, out, _ = show(capsys, tmp_path / "run")
    assert code == 0
    assert "chosen (score 0.75)" in out and "rejected (score 0.25)" in out and "gap 0.5" in out
    chosen_line = next(line for line in out.splitlines() if "5 is bigger." in line)
    assert "3 is bigger." in chosen_line  # side by side: both answers on one line
    assert "score_chosen:" not in out  # shown in the pair's header, not again as a column


@pytest.mark.parametrize("make", ["missing", "file", "foreign"])
def test_bad_run_dirs_exit_2(tmp_path, capsys, make):
    path = tmp_path / "x"
    if make == "file":
        path.write_text("hi")
    elif make == "foreign":
        path.mkdir()
        (path / "notes.txt").write_text("hi")
    code, _, err = show(capsys, path)
    assert code == 2 and str(path) in err and "fix:" in err and "Traceback" not in err


def test_a_run_dir_without_finished_stages(tmp_path):
    rd = curate.RunDir(tmp_path / "run")
    rd.create("r")
    with pytest.raises(UserInputError, match="no finished stage"):
        select(rd)


def test_a_half_written_stage_is_named_as_such(run_dir, capsys):
    (run_dir / "stages" / "02-short" / "meta.json").unlink()
    code, _, err = show(capsys, run_dir, "short")
    assert code == 2 and "has not finished" in err and "half-written" in err and "Traceback" not in err


def test_a_deleted_checkpoint_file_is_a_clear_error(run_dir, capsys):
    (run_dir / "stages" / "01-dedup" / "output.parquet").unlink()
    code, _, err = show(capsys, run_dir, "dedup")
    assert code == 2 and "cannot read the rows of stage 'dedup'" in err and "Traceback" not in err
