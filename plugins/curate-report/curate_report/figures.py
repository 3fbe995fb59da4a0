"""Plotly figures (as plain ``{"data", "layout"}`` dicts, the JSON plotly.js draws) of one run, or
of several runs overlaid. Building the dicts directly keeps report writing free of
``plotly.graph_objects``' import time, which every run would pay."""

from __future__ import annotations

from typing import Any

#: one colour per run in comparisons (plotly's default sequence)
COLORS = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]
KEPT, REMOVED = "#2a9d8f", "#e76f51"


#: bins of a drawn histogram
PLOT_BINS = 30


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"}, "height": 320,
            "margin": {"l": 55, "r": 15, "t": 40, "b": 80}, "legend": {"orientation": "h", "y": -0.3},
            "font": {"size": 11}, **extra}


def funnel(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows kept and removed per stage (one run: stacked; several: kept rows side by side), and
    removed rows by reason."""
    if len(runs) == 1:
        stages = runs[0]["stages"]
        ids = [s["id"] for s in stages]
        rows = {"data": [
            {"type": "bar", "name": "kept (rows out)", "x": ids, "y": [s["rows_out"] for s in stages],
             "marker": {"color": KEPT}},
            {"type": "bar", "name": "removed", "x": ids, "y": [s["rows_removed"] for s in stages],
             "marker": {"color": REMOVED}}],
            "layout": _layout("Rows per stage", barmode="stack", yaxis={"title": {"text": "rows"}})}
    else:
        rows = {"data": [{"type": "bar", "name": run["label"], "x": [s["id"] for s in run["stages"]],
                          "y": [s["rows_out"] for s in run["stages"]], "marker": {"color": COLORS[i % len(COLORS)]}}
                         for i, run in enumerate(runs)],
                "layout": _layout("Rows out per stage", barmode="group", yaxis={"title": {"text": "rows"}})}
    figures = [rows]
    reasons = []
    for i, run in enumerate(runs):
        pairs = [(f"{s['id']}: {r}", n) for s in run["stages"] for r, n in s["reasons"]]
        pairs = sorted(pairs, key=lambda p: -p[1])[:25][::-1]
        if pairs:
            reasons.append({"type": "bar", "orientation": "h", "name": run["label"], "y": [_short(p[0]) for p in pairs],
                            "x": [p[1] for p in pairs], "hovertext": [p[0] for p in pairs], "hoverinfo": "x+text",
                            "marker": {"color": REMOVED if len(runs) == 1 else COLORS[i % len(COLORS)]}})
    if reasons:
        height = 120 + 22 * max(len(t["y"]) for t in reasons) * (1 if len(runs) == 1 else 1.5)
        figures.append({"data": reasons, "layout": _layout(
            "Removed rows by stage and reason", barmode="group", height=min(height, 900),
            margin={"l": 320, "r": 15, "t": 40, "b": 40}, xaxis={"title": {"text": "rows"}})})
    return figures


def timing(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    data = []
    for i, run in enumerate(runs):
        stages = run["stages"]
        colors = ["#bbbbbb" if s["status"] == "reused" else COLORS[i % len(COLORS)] for s in stages]
        data.append({"type": "bar", "name": run["label"], "x": [s["id"] for s in stages],
                     "y": [round(s["seconds"], 3) for s in stages], "marker": {"color": colors},
                     "hovertext": [s["status"] for s in stages]})
    return [{"data": data, "layout": _layout("Seconds per stage (grey: reused from its checkpoint)",
                                             barmode="group", yaxis={"title": {"text": "seconds"}})}]


def distributions(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One figure per (stage, column), each run a trace (histograms overlaid); all pass rates of a
    run in one figure."""
    by_key: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for i, run in enumerate(runs):
        for d in run["distributions"]:
            by_key.setdefault((d["stage"], d["column"]), []).append((i, d))
    figures, rates = [], []
    for (stage, column), found in by_key.items():
        kind = found[0][1]["kind"]
        if kind == "rate":
            rates += found
            continue
        fig = _distribution_figure(stage, column, kind, found, runs)
        if fig:
            figures.append(fig)
    if rates:
        data = []
        for i, run in enumerate(runs):
            mine = [d for j, d in rates if j == i]
            data.append({"type": "bar", "name": run["label"], "x": [f"{d['stage']}: {d['column']}" for d in mine],
                         "y": [d["rate"] for d in mine], "marker": {"color": COLORS[i % len(COLORS)]},
                         "hovertext": [f"{d['true']} of {d['true'] + d['false']} ({d['null']} unjudged)"
                                       for d in mine]})
        figures.insert(0, {"group": "pass rates", "data": data, "layout": _layout(
            "Pass rates", barmode="group", yaxis={"title": {"text": "rate"}, "range": [0, 1]})})
    return figures


def _distribution_figure(stage: str, column: str, kind: str, found: list[tuple[int, dict[str, Any]]],
                         runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    title = f"{column} — {stage}"
    data = []
    grid = _grid([d for _, d in found]) if kind == "histogram" else None
    for i, d in found:
        color = COLORS[i % len(COLORS)] if len(runs) > 1 else None
        name = runs[i]["label"]
        if kind == "histogram":
            x, counts, width = _rebin(d, grid)
            trace = {"type": "bar", "name": name, "x": x, "y": counts, "width": width,
                     "opacity": 0.6 if len(runs) > 1 else 0.9}
        elif kind == "categories":
            trace = {"type": "bar", "name": name, "x": d["labels"], "y": d["counts"]}
        elif kind == "rates":
            trace = {"type": "bar", "name": name, "x": d["labels"],
                     "y": [p / n if n else None for p, n in zip(d["passed"], d["n"])],
                     "hovertext": [f"{p} of {n}" for p, n in zip(d["passed"], d["n"])]}
        else:
            continue
        if color:
            trace["marker"] = {"color": color}
        data.append(trace)
    if not data:
        return None
    first = found[0][1]
    xaxis = {"title": {"text": first.get("xtitle") or column}}
    if kind == "categories" or kind == "rates":
        xaxis["type"] = "category"
    yaxis = {"title": {"text": first.get("ytitle") or ("pass rate" if kind == "rates" else "rows")}}
    return {"group": first["group"], "data": data,
            "layout": _layout(title, barmode="overlay" if kind == "histogram" else "group", bargap=0.05,
                              xaxis=xaxis, yaxis=yaxis, showlegend=len(runs) > 1)}


def _grid(hists: list[dict[str, Any]]) -> tuple[float, float]:
    """(low, bin width) of one grid covering every histogram's range."""
    lo = min(d["x"][0] - d["width"] / 2 for d in hists)
    hi = max(d["x"][-1] + d["width"] / 2 for d in hists)
    return lo, (hi - lo) / PLOT_BINS if hi > lo else 1.0


def _rebin(d: dict[str, Any], grid: tuple[float, float] | None) -> tuple[list[float], list[int], float]:
    """A histogram's fine bins summed onto the grid's ``PLOT_BINS`` bins (each by its centre)."""
    lo, width = grid or (d["x"][0] - d["width"] / 2, d["width"])
    counts = [0] * PLOT_BINS
    for x, n in zip(d["x"], d["counts"]):
        counts[min(PLOT_BINS - 1, max(0, int((x - lo) / width)))] += n
    return [lo + (i + 0.5) * width for i in range(PLOT_BINS)], counts, width


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["funnel", "timing", "distributions", "COLORS"]
