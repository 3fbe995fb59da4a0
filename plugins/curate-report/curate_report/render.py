"""The report page: one self-contained HTML file (plotly.js inlined once, the data as JSON, the
page's own script and style), for one run or several side by side.

Row text is model output, so nothing from a run is written into the page as HTML: the data goes
into a ``<script type="application/json">`` block with ``</`` escaped, and the page's script puts
it on screen with ``textContent`` only.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import curate

from curate_report import figures

SECTIONS = [("provenance", "Provenance"), ("funnel", "Funnel"), ("timing", "Timing & requests"),
            ("distributions", "Distributions"), ("rows", "Row browser")]
COMPARE_SECTIONS = [("provenance", "Runs"), ("changes", "Changes"), ("funnel", "Funnels"),
                    ("timing", "Timing & requests"), ("distributions", "Distributions"), ("rows", "Row browser")]


def page_data(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page's script shows: the collected runs, labelled, with their figures."""
    labels = _labels([r["path"] for r in runs])
    for run, label in zip(runs, labels):
        run["label"] = label
    return {
        "mode": "compare" if len(runs) > 1 else "single",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "curate_version": curate.__version__,
        "runs": runs,
        "figures": {"funnel": figures.funnel(runs), "timing": figures.timing(runs),
                    "distributions": figures.distributions(runs)},
        "changes": changes(runs) if len(runs) > 1 else [],
    }


def render(runs: list[dict[str, Any]]) -> str:
    """The report page of one run (or a comparison of several), as HTML text."""
    data = page_data(runs)
    sections = COMPARE_SECTIONS if data["mode"] == "compare" else SECTIONS
    title = ("curate comparison: " + " vs ".join(r["label"] for r in runs)) if len(runs) > 1 \
        else f"curate report: {runs[0]['name']}"
    nav = "".join(f'<a href="#{sid}">{name}</a>' for sid, name in sections)
    body = "\n".join(f'<section id="{sid}"><h2>{name}</h2><div class="content"></div></section>'
                     for sid, name in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title>\n<style>{_asset('report.css')}</style>\n"
        f"<script>{_plotly_js()}</script>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1><div id=\"status\"></div><nav>{nav}</nav></header>\n"
        f"<main>\n{body}\n</main>\n"
        f"<script type=\"application/json\" id=\"report-data\">{embed_json(data)}</script>\n"
        f"<script>{_asset('report.js')}</script>\n</body></html>\n")


def write_report(runs: list[dict[str, Any]], path: Path) -> Path:
    text = render(runs)
    curate.atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)


def embed_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` block, open a comment or start a nested script: every
    ``<`` is written ``\\u003c`` (so ``</script>`` and ``<!--`` cannot occur), which parses back to
    the same text."""
    text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _finite(value: Any) -> Any:
    """NaN and infinities (not JSON) as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def changes(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures that moved between runs: pass rates, mean scores, stage metrics (diversity, ...),
    rows each writer wrote. ``values`` has one entry per run (``None``: absent); ``delta`` is last
    minus first."""
    found: dict[tuple[str, str, str], list[float | None]] = {}

    def put(kind: str, stage: str, name: str, i: int, value: float | None) -> None:
        found.setdefault((kind, stage, name), [None] * len(runs))[i] = value

    for i, run in enumerate(runs):
        for d in run["distributions"]:
            if d["kind"] == "rate":
                put("pass rate", d["stage"], d["column"], i, d["rate"])
            elif d["kind"] == "histogram" and d["group"] in ("scores", "lengths"):
                put("mean", d["stage"], d["column"], i, d["stats"]["mean"])
            elif d["kind"] == "rates":
                passed, n = sum(d["passed"]), sum(d["n"])
                put("pass rate", d["stage"], d["column"], i, passed / n if n else None)
        for s in run["stages"]:
            for name, value in (s.get("metrics") or {}).items():
                put("metric", s["id"], name, i, value)
            if s["writer"] or s["id"] == run["stages"][-1]["id"]:
                put("rows out", s["id"], "rows", i, s["rows_out"])
    order = {"pass rate": 0, "mean": 1, "metric": 2, "rows out": 3}
    table = []
    for (kind, stage, name), values in sorted(found.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], kv[0][2])):
        known = [v for v in values if v is not None]
        delta = values[-1] - values[0] if values[0] is not None and values[-1] is not None else None
        table.append({"kind": kind, "stage": stage, "name": name, "values": values, "delta": delta,
                      "changed": len(known) > 1 and max(known) != min(known)})
    return table


def _labels(paths: list[str]) -> list[str]:
    """Short, distinct run labels: folder names, with parents added while two are the same."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {p}" for i, p in enumerate(paths)]


@functools.lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return resources.files("curate_report").joinpath("assets", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)  # 4.6 MB: read once per process
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # plotly.offline is light; graph_objects is not needed

    # A script block ends at "</script"; plotly.min.js has none, but make sure of it.
    return get_plotlyjs().replace("</script", "<\\/script")


__all__ = ["render", "write_report", "page_data", "embed_json", "changes"]
