"""The tests of a `judge.code` row: what forms they take, and how outputs are compared.

Two kinds, told apart by their shape:

* **assert tests** — Python run after the solution, in its namespace: a string, or a list of
  strings. A list gives one test per string. A string is cut at its top-level ``assert``
  statements: each one, with the statements since the previous one, is a test; statements
  after the last assert are a final test (``def check(candidate): ...`` + ``check(f)``, as
  HumanEval writes them, is one test). Every test string must contain an ``assert`` somewhere —
  code that cannot fail is not a test.
* **stdin/stdout tests** — ``[{"input": ..., "output": ...}, ...]``, or APPS' ``{"inputs":
  [...], "outputs": [...]}``: the program runs once per case with ``input`` on stdin; it passes
  when it exits with status 0 and its stdout equals ``output`` line by line, ignoring trailing
  whitespace on each line and trailing empty lines (``\\r\\n`` counts as ``\\n``). A value
  given as a list of lines is joined with newlines; numbers are written as text.

A JSON string holding either form is decoded first. Anything else is malformed: the row is
removed with the reason :class:`BadTests` gives.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any


class BadTests(ValueError):
    """The tests of a row cannot be used (the message is the removed row's reason)."""


@dataclass(frozen=True)
class AssertTests:
    tests: tuple[str, ...]


@dataclass(frozen=True)
class IOTests:
    cases: tuple[tuple[str, str], ...]  # (stdin, expected stdout)


def parse_tests(value: Any) -> AssertTests | IOTests:
    """Read a row's tests, or raise :class:`BadTests` saying what is wrong."""
    if value is None:
        raise BadTests("no tests (null)")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise BadTests("no tests (empty string)")
        if text[0] in "[{":
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            if isinstance(decoded, (list, dict)):
                return parse_tests(decoded)
        return AssertTests(tuple(split_asserts(text)))
    if isinstance(value, dict):
        return _io_from_dict(value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if not items:
            raise BadTests("no tests (empty list)")
        if all(isinstance(item, str) for item in items):
            for k, item in enumerate(items):
                _check_assert_source(item, f"test {k + 1}")
            return AssertTests(tuple(items))
        if all(isinstance(item, dict) for item in items):
            return IOTests(tuple(_io_case(item, k) for k, item in enumerate(items)))
        kinds = sorted({type(item).__name__ for item in items})
        raise BadTests(f"tests mix or use unsupported kinds ({', '.join(kinds)}): give strings of assert "
                       "statements, or {input, output} objects")
    raise BadTests(f"tests of type {type(value).__name__} are not supported: give assert statements (a string or a "
                   "list of strings) or stdin/stdout pairs ([{input, output}, ...])")


def _check_assert_source(source: str, what: str) -> ast.Module:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise BadTests(f"{what} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        raise BadTests(f"{what} has no assert statement, so it cannot fail")
    return tree


def split_asserts(source: str) -> list[str]:
    """Cut a string of tests at its top-level asserts (see the module docstring)."""
    tree = _check_assert_source(source, "the tests")
    lines = source.splitlines()
    tests, start = [], 0
    for node in tree.body:
        if isinstance(node, ast.Assert):
            tests.append("\n".join(lines[start:node.end_lineno]))
            start = node.end_lineno
    rest = "\n".join(lines[start:])
    if rest.strip():
        tests.append(rest)
    return [t for t in tests if t.strip()]


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise BadTests(f"{what} is {value!r}, not text")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise BadTests(f"{what} is a {type(value).__name__}, not text")


def _io_case(item: dict, k: int) -> tuple[str, str]:
    missing = [key for key in ("input", "output") if key not in item]
    if missing:
        raise BadTests(f"test {k + 1} has no {' or '.join(missing)} (stdin/stdout tests are {{input, output}} objects)")
    return _text(item["input"], f"test {k + 1}'s input"), _text(item["output"], f"test {k + 1}'s output")


def _io_from_dict(value: dict) -> IOTests:
    if "fn_name" in value and value["fn_name"]:
        raise BadTests("call-based tests (fn_name) are not supported: give assert statements instead")
    if "inputs" in value and "outputs" in value:
        inputs, outputs = value["inputs"], value["outputs"]
        if not isinstance(inputs, (list, tuple)) or not isinstance(outputs, (list, tuple)):
            raise BadTests("`inputs` and `outputs` must be lists")
        if len(inputs) != len(outputs) or not inputs:
            raise BadTests(f"{len(inputs)} inputs for {len(outputs)} outputs")
        return IOTests(tuple(_io_case({"input": i, "output": o}, k) for k, (i, o) in enumerate(zip(inputs, outputs))))
    if "input" in value or "output" in value:
        return IOTests((_io_case(value, 0),))
    raise BadTests(f"a tests object needs input/output or inputs/outputs (it has {', '.join(map(str, value)) or 'nothing'})")


def normalized_lines(text: str) -> list[str]:
    """Lines compared by stdin/stdout tests: trailing whitespace and trailing empty lines dropped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compare_output(actual: str, expected: str) -> str | None:
    """``None`` when they match; else where they first differ, briefly."""
    got, want = normalized_lines(actual), normalized_lines(expected)
    if got == want:
        return None
    for n, (g, w) in enumerate(zip(got, want), start=1):
        if g != w:
            return f"wrong answer: line {n} is {_short(g)}, expected {_short(w)}"
    if len(got) < len(want):
        return f"wrong answer: {len(got)} lines, expected {len(want)} (line {len(got) + 1}: {_short(want[len(got)])})"
    return f"wrong answer: {len(got)} lines, expected {len(want)} (extra line {len(want) + 1}: {_short(got[len(want)])})"


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
