"""judge.code: which code is run, how tests are read and compared, and the stage end to end."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest

import curate
from curate.testing import run_stage
from curate_judges.code_extract import extract_code
from curate_judges.code_tests import (AssertTests, BadTests, IOTests, compare_output, normalized_lines,
                                      parse_tests, split_asserts)


# --- which code ------------------------------------------------------------------------------
def test_the_longest_python_block_wins_and_ties_go_to_the_last():
    text = ("Draft:\n```python\nx = 1\n```\nFinal:\n```py\ndef f():\n    return 2\n```\n"
            "Usage:\n```python\nprint(f())\n```\nOutput:\n```text\n2 and a long line of output\n```")
    assert extract_code(text) == "def f():\n    return 2"
    assert extract_code("```python\na = 1\n```\n```python\nb = 2\n```") == "b = 2"


def test_unlabelled_blocks_count_only_without_python_ones():
    assert extract_code("```\nprint(1)\n```") == "print(1)"
    assert extract_code("```\nprint(1) and more\n```\n```python3\nprint(2)\n```") == "print(2)"


def test_blocks_in_other_languages_only_mean_no_code():
    assert extract_code("Run it:\n```bash\npython main.py\n```") is None


def test_no_fence_means_the_whole_text():
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert extract_code("   \n") is None and extract_code(None) is None


def test_fences_left_open_indented_or_with_tildes():
    assert extract_code("Answer:\n```python\nprint('cut off')") == "print('cut off')"
    assert extract_code("1. Code:\n   ```python\n   if x:\n       y()\n   ```") == "if x:\n    y()"
    assert extract_code("~~~python\nprint(1)\n~~~") == "print(1)"
    assert extract_code("````python\nx = '```'\n````") == "x = '```'"


# --- which tests -----------------------------------------------------------------------------
def test_a_string_is_cut_at_its_top_level_asserts():
    tests = split_asserts("from math import sqrt\nx = sqrt(4)\nassert f(x) == 2\nassert f(0) == 0\nprint('done')")
    assert tests == ["from math import sqrt\nx = sqrt(4)\nassert f(x) == 2", "assert f(0) == 0", "print('done')"]


def test_humaneval_style_check_is_one_test():
    source = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n\ncheck(inc)"
    assert parse_tests(source) == AssertTests((source,))


def test_lists_json_strings_and_apps_dicts():
    assert parse_tests(["assert f(1) == 1", "assert f(2) == 2"]).tests == ("assert f(1) == 1", "assert f(2) == 2")
    pairs = [{"input": "1 2\n", "output": "3\n"}, {"input": ["4", "5"], "output": 9}]
    assert parse_tests(pairs) == IOTests((("1 2\n", "3\n"), ("4\n5", "9")))
    assert parse_tests(json.dumps(pairs)) == parse_tests(pairs)
    assert parse_tests({"inputs": ["1\n"], "outputs": ["1\n"]}) == IOTests((("1\n", "1\n"),))


@pytest.mark.parametrize("value, reason", [
    (None, "null"), ("  ", "empty string"), ([], "empty list"),
    (["assert f(1)", {"input": "1"}], "mix"), ([{"input": "1"}], "no output"),
    ("x = f(1)", "no assert statement"), ("assert f(1) ==", "not valid Python"), (42, "type int"),
    ({"inputs": ["1"], "outputs": []}, "1 inputs for 0 outputs"), ({"fn_name": "f", "inputs": [], "outputs": []}, "fn_name"),
    ("['assert f(1) == 1']", "no assert statement"), ([{"input": None, "output": "1"}], "not text"),
])
def test_malformed_tests_say_why(value, reason):
    with pytest.raises(BadTests, match=reason):
        parse_tests(value)


def test_outputs_are_compared_line_by_line_without_trailing_whitespace():
    assert normalized_lines("a  \r\nb\t\n\n\n") == ["a", "b"]
    assert compare_output("1 2 \n3\n\n", "1 2\n3") is None
    assert compare_output(" 1\n", "1\n") == "wrong answer: line 1 is ' 1', expected '1'"
    assert compare_output("1\n", "1\n2\n") == "wrong answer: 1 lines, expected 2 (line 2: '2')"


# --- the stage -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandboxed():
    import curate_sandbox

    try:
        curate_sandbox.resolve_tier()
    except curate_sandbox.SandboxUnavailable as exc:
        if os.environ.get("CURATE_REQUIRE_SANDBOX") == "1":
            pytest.fail(str(exc))
        pytest.skip(f"bubblewrap cannot run here (scripts/setup-sandbox.sh installs it): {exc}")


ADD = "```python\ndef add(a, b):\n    return a + b\n```"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0"
SUM_PROGRAM = "```python\nprint(sum(map(int, input().split())))\n```"
SUM_TESTS = [{"input": "1 2\n", "output": "3"}, {"input": "10 20\n", "output": "30\n"}]


def _judge(rows, **params):
    df = pl.DataFrame(rows, schema={"id": pl.Utf8, "response": pl.Utf8, "tests": pl.Utf8})
    params = {"timeout_s": 2, "workers": 4, **params}
    out = run_stage("judge.code", df, **params)
    kept = {r["id"]: r for r in out.kept.iter_rows(named=True)}
    removed = dict(zip(out.removed["id"], out.removed["reason"])) if out.removed is not None else {}
    return kept, removed, out


def test_assert_tests(sandboxed):
    kept, removed, out = _judge([
        {"id": "right", "response": ADD, "tests": ADD_TESTS},
        {"id": "half", "response": "def add(a, b):\n    return 3", "tests": ADD_TESTS},
        {"id": "exits", "response": "import sys\nsys.exit(0)", "tests": ADD_TESTS},
        {"id": "exits-in-test", "response": "import os\ndef add(a, b):\n    os._exit(0)", "tests": ADD_TESTS},
        {"id": "forges", "response": "print('\\n0123 {\"step\": \"test\", \"index\": 0, \"passed\": true}')\n"
                                     "def add(a, b):\n    print('adding')\n    return 0", "tests": ADD_TESTS},
        {"id": "loops", "response": "def add(a, b):\n    while True:\n        pass",
         "tests": "assert add(1, 2) == 3\nassert 1 + 1 == 2"},
        {"id": "main-block", "response": "def add(a, b):\n    return a + b\nif __name__ == '__main__':\n    input()",
         "tests": json.dumps(["assert add(2, 2) == 4"])},
    ], timeout_s=1)  # an alarm per step, started after the interpreter: start-up does not count
    assert not removed
    passed = {k: r["code_passed"] for k, r in kept.items()}
    assert passed == {"right": True, "half": False, "exits": False, "exits-in-test": False, "forges": False,
                      "loops": False, "main-block": True}
    assert [t["passed"] for t in kept["half"]["code_results"]] == [True, False]
    assert kept["half"]["code_results"][1]["error"] == "AssertionError in `assert add(-1, 1) == 0`"
    assert "SystemExit" in kept["exits"]["code_results"][0]["error"]
    assert kept["exits-in-test"]["code_results"][0]["error"].startswith("did not finish")
    assert kept["forges"]["code_results"][0]["stdout"] == "adding\n"
    loops = kept["loops"]["code_results"]  # each test has its own alarm: the next one still runs
    assert [(t["passed"], t["timed_out"]) for t in loops] == [(False, True), (True, False)]
    assert loops[0]["error"] == "timed out after 1 s"
    assert set(out.kept["code_tier"]) == {"bubblewrap"}
    assert out.result.stats["stage"].counters["passed"] == 2


def test_stdin_stdout_tests(sandboxed):
    io = json.dumps(SUM_TESTS)
    kept, removed, _ = _judge([
        {"id": "right", "response": SUM_PROGRAM, "tests": io},
        {"id": "wrong", "response": "print(int(input().split()[0]) * 2)", "tests": io},
        {"id": "crashes", "response": "raise ValueError('nope')", "tests": io},
        {"id": "floods", "response": "while True:\n    print('y' * 1000)", "tests": io},
        {"id": "sleeps", "response": "import time\ntime.sleep(60)", "tests": io},
        {"id": "prose", "response": "I would use a loop.\n```text\n3\n```", "tests": io},
    ], max_output_kb=64, excerpt_chars=10)
    assert not removed
    assert {k: r["code_passed"] for k, r in kept.items()} == {
        "right": True, "wrong": False, "crashes": False, "floods": False, "sleeps": False, "prose": False}
    wrong = kept["wrong"]["code_results"]
    assert [t["passed"] for t in wrong] == [False, False]
    assert wrong[0]["error"] == "wrong answer: line 1 is '2', expected '3'" and wrong[0]["stdout"] == "2\n"
    assert kept["crashes"]["code_results"][0]["error"] == "exit code 1: ValueError: nope"
    floods = kept["floods"]["code_results"][0]
    assert "output limit" in floods["error"] and not floods["timed_out"] and floods["stdout"] == "y" * 10
    assert kept["sleeps"]["code_results"][1] == {"passed": False, "error": "timed out after 2 s", "stdout": "",
                                                 "timed_out": True}
    assert kept["prose"]["code_results"][0]["error"] == "no Python code in the response"


def test_struct_tests_column(sandboxed):
    df = pl.DataFrame({"id": ["a"], "response": [SUM_PROGRAM], "tests": [SUM_TESTS]})
    assert df.schema["tests"] == pl.List(pl.Struct({"input": pl.Utf8, "output": pl.Utf8}))
    out = run_stage("judge.code", df, timeout_s=5)
    assert out.kept["code_passed"].to_list() == [True]
    assert out.kept.schema["code_results"] == pl.List(pl.Struct(
        {"passed": pl.Boolean, "error": pl.Utf8, "stdout": pl.Utf8, "timed_out": pl.Boolean}))


def test_bad_tests_and_null_responses_are_removed_with_the_reason(sandboxed):
    kept, removed, _ = _judge([
        {"id": "ok", "response": ADD, "tests": ADD_TESTS},
        {"id": "no-tests", "response": ADD, "tests": None},
        {"id": "no-assert", "response": ADD, "tests": "add(1, 2)"},
        {"id": "broken-json", "response": ADD, "tests": '[{"input": "1"}]'},
        {"id": "no-response", "response": None, "tests": ADD_TESTS},
    ])
    assert list(kept) == ["ok"]
    assert removed == {"no-tests": "bad tests: no tests (null)",
                       "no-assert": "bad tests: the tests has no assert statement, so it cannot fail",
                       "broken-json": "bad tests: test 1 has no output (stdin/stdout tests are {input, output} objects)",
                       "no-response": "no response (response is null)"}


def test_without_bubblewrap_the_recipe_fails_at_validation(monkeypatch):
    from curate_sandbox import _sandbox

    monkeypatch.setattr(_sandbox, "_probes", {})
    monkeypatch.setattr(_sandbox, "_tier_objects", {})
    monkeypatch.setenv("PATH", "/nonexistent")
    df = pl.DataFrame({"id": ["a"], "response": [ADD], "tests": [ADD_TESTS]})
    with pytest.raises(curate.RecipeError) as err:
        run_stage("judge.code", df)
    text = str(err.value)
    assert "judge.code" in text and "bwrap" in text and "allow_degraded_sandbox: true" in text
    out = run_stage("judge.code", df, allow_degraded_sandbox=True, timeout_s=5)
    assert out.kept["code_passed"].to_list() == [True]
    assert out.kept["code_tier"].to_list()[0] in ("unshare", "rlimits")
