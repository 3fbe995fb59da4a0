"""``curate show``: a stage's rows (or its removed rows, with their reasons) in the terminal.

Rows are read lazily (scan, filter, limit), so showing five rows of a 1M-row stage reads five
rows' worth of data. Conversations print as chat turns, preference pairs side by side with their
scores, long texts folded, everything else as ``key: value``.

``--where`` is a small filter language, parsed here into polars expressions (nothing is
evaluated as Python)::

    score > 0.5 and task == "math" and response ~ "(?i)sorry"

Clauses ``column op value`` joined by ``and``; ops ``==  !=  <  <=  >  >=`` and ``~`` (the
column contains a match of the regular expression; a plain word is a substring); values are
numbers, ``true``/``false``, ``null``, or text (quoted when it has spaces). ``a.b`` reads field
``b`` of struct column ``a``; ``~`` on a conversation searches its turns' text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import polars as pl
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from curate.errors import DataError, UserInputError
from curate.formats import is_messages, render_messages
from curate.rundir import RunDir, StageRecord

FOLD_CHARS = 600  # longer texts are folded to this many characters ...
FOLD_LINES = 12  # ... or this many lines (--full shows them whole)
_ROLE_STYLES = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


@dataclass
class Selection:
    """The rows ``curate show`` prints, and what they were selected from."""

    stage: StageRecord
    rows: pl.DataFrame
    matched: int  # rows that pass the filters (all rows without filters)
    removed: bool
    reasons: list[tuple[str, int]]  # for removed rows: the most common reasons among the matches


def find_stage(run_dir: RunDir, name: str | None) -> StageRecord:
    """A checkpointed stage by id or folder name (``03-dedup``); the last one when ``name`` is None."""
    stages = run_dir.stages()
    if not stages:
        raise UserInputError(f"{run_dir.path} has no finished stage to show",
                             hint="run the recipe first; `curate status` says where it stands")
    if name is None:
        return stages[-1]
    for record in stages:
        if name in (record.id, record.dir.name):
            return record
    unfinished = [d for d in sorted(run_dir.stages_dir.glob("*")) if d.is_dir() and name in (d.name, d.name[3:])]
    if unfinished:
        raise UserInputError(f"stage {name!r} has not finished: {unfinished[0]} has no meta.json (the stage is "
                             "running, or the run stopped in it and the folder is half-written)",
                             hint="`curate status` says which; rerun the recipe to finish it")
    known = ", ".join(f"{r.id} ({r.dir.name})" for r in stages)
    raise UserInputError(f"no finished stage {name!r} in {run_dir.path}; stages: {known}",
                         hint="name a stage by its id or its folder under stages/")


def select(run_dir: RunDir, stage: str | None = None, *, removed: bool = False, reason: str | None = None,
           where: str | None = None, limit: int = 5) -> Selection:
    """The first ``limit`` rows of a stage's output (or of its removed rows) that pass the filters."""
    run_dir.check_readable()
    record = find_stage(run_dir, stage)
    if removed:
        frame = run_dir.scan_removed(record.id)
        if frame is None:
            return Selection(record, pl.DataFrame(), 0, True, [])
    else:
        frame = run_dir.scan_output(record.id)
    try:
        schema = frame.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:  # deleted or damaged checkpoint files
        raise DataError(f"cannot read the rows of stage {record.id!r} in {record.dir}: {str(exc).splitlines()[0]}",
                        hint="rerun the recipe: a stage whose files are missing runs again") from None
    if reason:
        if "reason" not in schema:
            raise UserInputError("--reason filters removed rows: add --removed")
        frame = frame.filter(pl.col("reason").str.to_lowercase().str.contains(reason.lower(), literal=True))
    if where:
        frame = frame.filter(parse_where(where, schema))
    try:
        rows = frame.head(limit).collect()
        matched = frame.select(pl.len()).collect().item()
        reasons = []
        if removed and "reason" in schema:
            counts = frame.group_by("reason").len().sort(["len", "reason"], descending=[True, False]).head(5)
            reasons = [(str(r), int(n)) for r, n in counts.collect().iter_rows()]
    except (OSError, pl.exceptions.PolarsError) as exc:  # a bad regex, a comparison polars cannot do, bad files
        if where:
            raise UserInputError(f"--where {where!r} could not be applied: {str(exc).splitlines()[0]}",
                                 hint="check the value's type and the regular expression's syntax") from None
        raise DataError(f"cannot read the rows of stage {record.id!r} in {record.dir}: {str(exc).splitlines()[0]}",
                        hint="rerun the recipe: a stage whose files are missing runs again") from None
    return Selection(record, rows, matched, removed, reasons)


# --- --where ------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>==|!=|<=|>=|<|>|=|~)|"""
                    r"""(?P<word>`[^`]+`|[^\s"'=!<>~]+))""")
_WHERE_HINT = 'write clauses `column op value` joined by `and`, e.g. `score > 0.5 and task == "math"`; ' \
              "ops: == != < <= > >= ~ (regex)"


def parse_where(text: str, schema: pl.Schema | dict[str, pl.DataType]) -> pl.Expr:
    """``column op value [and ...]`` as a polars expression over a frame with ``schema``."""
    tokens = _tokenize(text)
    clauses: list[pl.Expr] = []
    i = 0
    while True:
        part = tokens[i:i + 3]
        if len(part) < 3 or part[0][0] != "word" or part[1][0] != "op" or part[2][0] == "op":
            shown = " ".join(t[1] for t in tokens[i:i + 3]) or "(nothing)"
            raise UserInputError(f"--where {text!r}: expected `column op value` at {shown!r}", hint=_WHERE_HINT)
        clauses.append(_clause(part[0][1].strip("`"), part[1][1], part[2], schema, text))
        i += 3
        if i == len(tokens):
            break
        if tokens[i] != ("word", "and") and tokens[i] != ("word", "AND"):
            raise UserInputError(f"--where {text!r}: expected `and` at {tokens[i][1]!r}", hint=_WHERE_HINT)
        i += 1
    return pl.all_horizontal(clauses)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise UserInputError(f"--where {text!r}: cannot read {text[pos:]!r}", hint=_WHERE_HINT)
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = m.end()
    return tokens


def _column(name: str, schema: Any, where: str) -> tuple[pl.Expr, pl.DataType]:
    if name in schema:
        return pl.col(name), schema[name]
    head, _, field = name.partition(".")
    if field and head in schema and isinstance(schema[head], pl.Struct):
        fields = {f.name: f.dtype for f in schema[head].fields}
        if field in fields:
            return pl.col(head).struct.field(field), fields[field]
    raise UserInputError(f"--where {where!r}: no column {name!r}; columns: {', '.join(schema)}",
                         hint="name one of the columns listed (a struct's field as column.field)")


def _clause(name: str, op: str, value: tuple[str, str], schema: Any, where: str) -> pl.Expr:
    col, dtype = _column(name, schema, where)
    kind, raw = value
    if kind == "word" and raw.lower() == "null" and op in ("==", "=", "!="):
        return col.is_null() if op != "!=" else col.is_not_null()
    if op == "~":
        if is_messages(dtype):
            col = render_messages(col)
        elif dtype.is_nested():
            raise UserInputError(f"--where {where!r}: `~` cannot search column {name!r} of type {dtype}")
        else:
            col = col.cast(pl.Utf8)
        return col.str.contains(raw)
    if dtype.is_nested():
        raise UserInputError(f"--where {where!r}: column {name!r} is {dtype}; only `~` (search) works on it")
    literal = _literal(name, dtype, kind, raw, where)
    return {"==": col == literal, "=": col == literal, "!=": col != literal, "<": col < literal,
            "<=": col <= literal, ">": col > literal, ">=": col >= literal}[op]


def _literal(name: str, dtype: pl.DataType, kind: str, raw: str, where: str) -> Any:
    if dtype.is_numeric():
        try:
            return int(raw) if dtype.is_integer() and re.fullmatch(r"[-+]?\d+", raw) else float(raw)
        except ValueError:
            raise UserInputError(f"--where {where!r}: column {name!r} is numeric ({dtype}); {raw!r} is not a number",
                                 hint="compare it with a number") from None
    if dtype == pl.Boolean:
        if raw.lower() not in ("true", "false"):
            raise UserInputError(f"--where {where!r}: column {name!r} is true/false; got {raw!r}")
        return raw.lower() == "true"
    return raw


# --- rendering ------------------------------------------------------------------------------------
def render(selection: Selection, *, full: bool = False) -> list[RenderableType]:
    """What ``curate show`` prints: a header line, then one panel per row."""
    st = selection.stage
    what = "removed rows" if selection.removed else "rows"
    out: list[RenderableType] = []
    if selection.removed and selection.matched == 0 and selection.rows.width == 0:
        return [Text(f"stage {st.id!r} ({st.use}) removed no rows")]
    head = Text(f"stage {st.id!r} ({st.use}): {selection.rows.height:,} of {selection.matched:,} {what}", style="bold")
    out.append(head)
    if selection.reasons:
        out.append(Text("reasons: " + "; ".join(f"{r} ({n:,})" for r, n in selection.reasons), style="red"))
    for i, row in enumerate(selection.rows.iter_rows(named=True), 1):
        out.append(render_row(row, selection.rows.schema, title=f"{i}", full=full))
    return out


def render_row(row: dict[str, Any], schema: Any, *, title: str = "", full: bool = False) -> RenderableType:
    """One row: its reason, its conversation or preference pair, then its other columns."""
    parts: list[RenderableType] = []
    shown: set[str] = set()
    if row.get("reason") is not None:
        parts.append(Text.assemble(("reason: ", "bold red"), (str(row["reason"]), "red")))
        shown.add("reason")
    has_pair = row.get("chosen") is not None and row.get("rejected") is not None
    prompt_col = next((c for c in ("messages", "prompt") if c in row and row[c] is not None), None)
    if prompt_col:
        turns = _as_turns(row[prompt_col], "user")
        if not has_pair and "response" in row and row["response"] is not None:
            turns.append({"role": "assistant", "content": str(row["response"])})
            shown.add("response")
        parts.append(_chat(turns, full))
        shown.add(prompt_col)
    if has_pair:
        parts.append(_pair(row, full, shown))
    rest = Table.grid(padding=(0, 1))
    rest.add_column(style="bold", no_wrap=True)
    rest.add_column()
    for key, value in row.items():
        if key in shown or key == "id":
            continue
        rest.add_row(f"{key}:", _fold(_plain(value), full))
    if rest.row_count:
        parts.append(rest)
    label = f"{title}. id={row['id']}" if "id" in row else title
    return Panel(Group(*parts), title=label, title_align="left", border_style="red" if "reason" in shown else "blue")


def _as_turns(value: Any, role: str) -> list[dict[str, str]]:
    """Messages as they are; a plain text as one turn of ``role``."""
    if isinstance(value, list):
        return [{"role": str(m.get("role", "?")), "content": str(m.get("content") or "")} for m in value
                if isinstance(m, dict)]
    return [{"role": role, "content": str(value)}]


def _chat(turns: list[dict[str, str]], full: bool) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for turn in turns:
        grid.add_row(Text(turn["role"], style=f"bold {_ROLE_STYLES.get(turn['role'], 'white')}"),
                     _fold(turn["content"], full))
    return grid


def _pair(row: dict[str, Any], full: bool, shown: set[str]) -> RenderableType:
    """Chosen and rejected side by side, with their scores and the gap between them."""
    table = Table(expand=True, show_lines=False, padding=(0, 1))
    scores = {}
    for side in ("chosen", "rejected"):
        key = next((k for k in (f"score_{side}", f"{side}_score", f"reward_{side}", f"{side}_reward") if k in row), None)
        scores[side] = row.get(key) if key else None
        shown.update({side} | ({key} if key else set()))
        header = side + (f" (score {_num(scores[side])})" if scores[side] is not None else "")
        table.add_column(Text(header, style="bold green" if side == "chosen" else "bold red"), ratio=1)
    cells = []
    for side in ("chosen", "rejected"):
        turns = _as_turns(row[side], "assistant")
        text = "\n\n".join(t["content"] if t["role"] == "assistant" else f"[{t['role']}] {t['content']}" for t in turns)
        cells.append(_fold(text, full))
    table.add_row(*cells)
    if isinstance(scores["chosen"], (int, float)) and isinstance(scores["rejected"], (int, float)):
        table.caption = f"gap {_num(scores['chosen'] - scores['rejected'])}"
    return table


def _plain(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "null" if value is None else str(value)


def _fold(text: str, full: bool) -> Text:
    """The text, or its start and how much was left out (never markup: data may contain [brackets])."""
    if full:
        return Text(text)
    lines = text.splitlines()
    cut = text
    if len(lines) > FOLD_LINES:
        cut = "\n".join(lines[:FOLD_LINES])
    cut = cut[:FOLD_CHARS]
    if len(cut) == len(text):
        return Text(text)
    return Text.assemble(cut.rstrip(), (f" … [+{len(text) - len(cut):,} chars; --full shows all]", "dim"))


def _num(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


__all__ = ["select", "render", "render_row", "parse_where", "find_stage", "Selection"]
