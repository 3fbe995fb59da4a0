"""Dataset cards: a Markdown README that says how a dataset was made and what is in it.

``write.hf`` puts one in the saved dataset's folder (``README.md``, the Hugging Face card) and
``write.jsonl`` / ``write.parquet`` next to their file (``card:``). A card carries the recipe, the
funnel of the writer's upstream stages with their removal reasons, the column schema, the models
(engines) used, and the distributions of lengths and scores.

Writers may run on another machine (a Ray executor), so the card is built only from what every
executor shares: the run directory (``run.json`` is written when the run starts, each stage's
``meta.json`` when it finishes) and the rows the writer wrote; never from in-process state.
"""

from __future__ import annotations

import json
import math
from typing import Any

import polars as pl
import yaml

from curate._version import __version__
from curate.formats import is_messages
from curate.rundir import RunDir, StageRecord

#: columns whose name says they hold a score, a verdict or a pass flag (besides float columns)
_SCORE_WORDS = ("score", "reward", "rating", "correct", "pass", "verdict", "gap", "margin")
_HISTOGRAMS = 6  # at most this many text histograms: a card must stay short
_REASONS = 5  # top removal reasons per stage


def build_card(run_dir: RunDir, writer_id: str, rows: pl.DataFrame, fmt: str, total: int | None = None) -> str:
    """The card of the rows that writer ``writer_id`` wrote in format ``fmt``, for the run in
    ``run_dir`` (read from its ``run.json`` and the upstream stages' checkpoints). ``total``: the
    rows written when ``rows`` is a sample of them (output written in parts); the distributions
    are then the sample's."""
    total = rows.height if total is None else total
    sampled = total > rows.height
    manifest = run_dir.manifest() or {}
    recipe = manifest.get("recipe") or {}
    name = recipe.get("name") or run_dir.path.name
    upstream = _funnel(run_dir, manifest, writer_id)
    lines = ["---", "tags: [curate, synthetic]", f"size_categories: [{_size_category(total)}]", "---", "",
             f"# {name}", ""]
    if recipe.get("description"):
        lines += [str(recipe["description"]), ""]
    lines += [f"Made by [curate](https://pypi.org/project/curate-llm/) {manifest.get('curate_version', __version__)} "
              f"in the `{fmt}` format; {total:,} rows"
              + (f", run started {manifest['started'][:19].replace('T', ' ')} UTC." if manifest.get("started") else "."),
              ""]
    lines += _funnel_section(run_dir, upstream)
    lines += ["", "## Columns", "", "| column | type |", "|---|---|"]
    lines += [f"| `{col}` | `{dtype}` |" for col, dtype in rows.schema.items()]
    lines += _models_section(manifest, upstream)
    dist = _distributions_section(rows)
    if sampled and dist:
        dist[2:2] = ["", f"(over the first {rows.height:,} of the {total:,} rows)"]
    lines += dist
    lines += ["", "## Recipe", ""]
    if recipe:
        lines += ["```yaml", yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=100).rstrip(), "```", "",
                  "<details><summary>as recorded in run.json</summary>", "", "```json", json.dumps(recipe, indent=2),
                  "```", "", "</details>"]
    else:
        lines.append("(not recorded)")
    return "\n".join(lines) + "\n"


def _funnel(run_dir: RunDir, manifest: dict[str, Any], writer_id: str) -> list[StageRecord]:
    """The checkpointed stages upstream of the writer in this run, in execution order."""
    graph = {s["id"]: s.get("inputs") or [] for s in manifest.get("stages") or []}
    upstream: set[str] = set()
    frontier = list(graph.get(writer_id, []))
    while frontier:
        sid = frontier.pop()
        if sid not in upstream:
            upstream.add(sid)
            frontier.extend(graph.get(sid, []))
    return [r for r in run_dir.stages() if r.id in upstream]


def _funnel_section(run_dir: RunDir, upstream: list[StageRecord]) -> list[str]:
    lines = ["## Stage funnel", "", "| stage | component | rows in | rows out | removed |", "|---|---|---|---|---|"]
    reasons: list[str] = []
    for record in upstream:
        st = record.stats
        lines.append(f"| {record.id} | `{record.use}` | {st.get('rows_in', 0):,} | {st.get('rows_out', 0):,} | "
                     f"{st.get('rows_removed', 0):,} |")
        for reason, n in _top_reasons(run_dir, record):
            reasons.append(f"| {record.id} | {_cell(reason)} | {n:,} |")
    if reasons:
        lines += ["", "### Removed rows by reason", "", "| stage | reason | rows |", "|---|---|---|", *reasons]
    return lines


def _top_reasons(run_dir: RunDir, record: StageRecord) -> list[tuple[str, int]]:
    removed = run_dir.scan_removed(record.id)
    if removed is None or "reason" not in removed.collect_schema().names():
        return []
    counts = (removed.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
              .head(_REASONS).collect())
    return [(str(r), int(n)) for r, n in counts.iter_rows()]


def _models_section(manifest: dict[str, Any], upstream: list[StageRecord]) -> list[str]:
    """The engines the upstream stages used, as the manifest recorded them (identities hold no secrets)."""
    used = {name for s in manifest.get("stages") or [] if s["id"] in {r.id for r in upstream}
            for name in s.get("engines") or []}
    engines = manifest.get("engines") or {}
    if not used:
        return []
    lines = ["", "## Models", "", "| engine | backend | model | used by |", "|---|---|---|---|"]
    for name in sorted(used):
        engine = engines.get(name) or {}
        identity = engine.get("identity") or {}
        model = identity.get("model") or identity.get("model_path") or identity.get("path") or "-"
        backend = " ".join(filter(None, [engine.get("use"), engine.get("package"), engine.get("version")])) or "-"
        stages = ", ".join(s["id"] for s in manifest.get("stages") or []
                           if name in (s.get("engines") or []) and s["id"] in {r.id for r in upstream})
        lines.append(f"| {name} | {_cell(backend)} | `{_cell(str(model))}` | {stages} |")
    return lines


# --- distributions --------------------------------------------------------------------------------
#: text columns whose lengths always matter; other text columns count only when they hold long texts
_TEXT_COLUMNS = {"prompt", "response", "chosen", "rejected", "text", "completion", "instruction", "question",
                 "answer", "system", "conversation"}
_LONG_TEXT = 50  # mean characters from which another text column is content, not a label or an id


def _lengths(rows: pl.DataFrame) -> dict[str, pl.Series]:
    """Characters of the content columns: texts, and conversations (all turns, and the last turn)."""
    exprs: dict[str, pl.Expr] = {}
    for name, dtype in rows.schema.items():
        if is_messages(dtype):
            exprs[name] = pl.col(name).list.eval(pl.element().struct.field("content").str.len_chars()).list.sum()
            if (rows[name].list.len().max() or 0) > 1:
                exprs[f"{name} (last turn)"] = pl.col(name).list.last().struct.field("content").str.len_chars()
        elif dtype == pl.Utf8 and name != "id" and not name.endswith("_id"):
            exprs[name] = pl.col(name).str.len_chars()
    frame = rows.select(*(e.alias(n) for n, e in exprs.items()))
    out = {}
    for name in frame.columns:
        s = frame[name].drop_nulls().cast(pl.Float64)
        if s.len() and (name.split(" ")[0] in _TEXT_COLUMNS or is_messages(rows.schema[name.split(" ")[0]])
                        or (s.mean() or 0) >= _LONG_TEXT):
            out[name] = s
    return out


def _scores(rows: pl.DataFrame) -> dict[str, pl.Series]:
    """Float columns, and integer or true/false columns named like a score, verdict or pass flag."""
    out = {}
    for name, dtype in rows.schema.items():
        if dtype.is_float() or ((dtype.is_integer() or dtype == pl.Boolean)
                                and any(w in name.lower() for w in _SCORE_WORDS)):
            s = rows[name].drop_nulls().cast(pl.Float64)
            s = s.filter(s.is_finite())
            if s.len():
                out[name] = s
    return out


def _distributions_section(rows: pl.DataFrame) -> list[str]:
    lengths, scores = _lengths(rows), _scores(rows)
    if not lengths and not scores:
        return []
    lines = ["", "## Distributions"]
    if lengths:
        lines += ["", "### Lengths (characters)", "", "| column | min | median | mean | p90 | max |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| `{name}` | {s.min():,.0f} | {s.median():,.0f} | {s.mean():,.0f} | "
                  f"{s.quantile(0.9, 'nearest'):,.0f} | {s.max():,.0f} |" for name, s in lengths.items()]
    if scores:
        lines += ["", "### Scores", "", "| column | rows | mean | min | median | max |", "|---|---|---|---|---|---|"]
        lines += [f"| `{name}` | {s.len():,} | {s.mean():.3g} | {s.min():.3g} | {s.median():.3g} | {s.max():.3g} |"
                  for name, s in scores.items()]
    # scores first: they say the most; a card stays short
    shown = [*scores.items(), *((f"{n} length", s) for n, s in lengths.items())][:_HISTOGRAMS]
    lines += ["", "### Histograms"]
    for title, series in shown:
        lines += ["", f"`{title}`", "", "```text", *text_histogram(series), "```"]
    return lines


def text_histogram(values: pl.Series, bins: int = 10, width: int = 30) -> list[str]:
    """A histogram as lines of text bars (``lo – hi │████  n``), for cards and terminals."""
    s = values.drop_nulls().cast(pl.Float64)
    if s.len() == 0:
        return ["(no values)"]
    lo, hi = float(s.min()), float(s.max())
    if lo == hi:
        return [f"{lo:g} │{'█' * width} {s.len():,}"]
    if (s == s.round(0)).all():  # whole numbers (lengths, counts): bins of whole numbers, both ends included
        step = float(math.ceil((hi - lo + 1) / bins))
        bins = math.ceil((hi - lo + 1) / step)
        edges = [f"{lo + i * step:,.0f}" for i in range(bins)]
        ends = [f"{lo + (i + 1) * step - 1:,.0f}" for i in range(bins)]
    else:
        step = (hi - lo) / bins
        edges = [_edge(lo + i * step, step) for i in range(bins)]
        ends = [_edge(lo + (i + 1) * step, step) for i in range(bins)]
    index = ((s - lo) / step).floor().clip(0, bins - 1).cast(pl.Int64)
    counts = index.value_counts().to_dict(as_series=False)
    by_bin = dict(zip(counts[index.name], counts["count"]))
    top = max(by_bin.values())
    edge_w = max(len(x) for x in edges + ends)
    labels = [f"{edges[i]:>{edge_w}} – {ends[i]:>{edge_w}}" for i in range(bins)]
    return [f"{labels[i]} │{'█' * round(width * by_bin.get(i, 0) / top):<{width}} {by_bin.get(i, 0):,}"
            for i in range(bins)]


def _edge(x: float, step: float) -> str:
    """A bin edge with as many decimals as the bin width needs."""
    if step >= 5:
        return f"{x:,.0f}"
    decimals = max(1, -math.floor(math.log10(step)))
    return f"{x:,.{decimals}f}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")[:200]


def _size_category(n: int) -> str:
    """The Hugging Face Hub's ``size_categories`` value for ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


__all__ = ["build_card", "text_histogram"]
