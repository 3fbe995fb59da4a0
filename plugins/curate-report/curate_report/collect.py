"""Read a run directory into the plain data a report shows: provenance, the funnel, timing and
usage, distributions, and a sample of rows.

Everything is read through :class:`curate.RunDir`. Parquet files are scanned lazily and only
aggregates (histogram bins, counts) and a bounded sample of rows leave polars, so the report of a
1M-row run is as small as that of a 100-row run.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import polars as pl
import yaml

import curate

from curate_report.distributions import column_distributions, length_distributions

#: rows sampled per stage, kept and removed each
SAMPLE_ROWS = 200
#: longer texts in sampled rows are cut (the report shows samples, not the dataset)
MAX_TEXT_CHARS = 4000
#: usage figures summed per engine, in the order they are shown
USAGE_KEYS = ("requests_sent", "requests_cached", "requests_failed", "requests_reasked", "prompt_tokens",
              "completion_tokens", "cost_usd")


class BadRunDir(curate.UserInputError):
    """The folder is not a readable curate run directory."""


def collect(run_dir: curate.RunDir | str | Path, *, sample: int = SAMPLE_ROWS) -> dict[str, Any]:
    """Everything a report shows about one run, as JSON-ready data.

    :raises BadRunDir: when ``run_dir`` is not a run directory or its ``run.json`` is unreadable.
    """
    rd = run_dir if isinstance(run_dir, curate.RunDir) else curate.RunDir(run_dir)
    manifest = _manifest(rd)
    planned = manifest.get("stages") or []
    records = {r.id: r for r in rd.stages()}
    warnings: list[str] = []
    stages, rows, distributions = [], {}, []
    seen_columns: set[str] = set()
    for entry in planned:
        sid = entry.get("id", "?")
        record = records.get(sid)
        stats = entry.get("stats") or {}
        if not stats and record is not None and record.meta.get("fingerprint") == entry.get("fingerprint"):
            # run.json is rewritten when a run ends; a running (or killed) run's finished stages
            # are known by their checkpoints
            stats = record.stats
            entry = {**entry, "status": "ran"}
        stage = {
            "id": sid, "use": entry.get("use", ""), "package": entry.get("package"), "version": entry.get("version"),
            "inputs": entry.get("inputs") or [], "status": entry.get("status", "not run"),
            "rows_in": int(stats.get("rows_in") or 0), "rows_out": int(stats.get("rows_out") or 0),
            "rows_removed": int(stats.get("rows_removed") or 0), "seconds": float(stats.get("seconds") or 0.0),
            "counters": stats.get("counters") or {}, "metrics": stats.get("metrics") or {},
            "engines": stats.get("engines") or {}, "reasons": [], "writer": False,
        }
        stages.append(stage)
        if record is None or stage["status"] == "not run":
            continue
        try:
            output, removed = _frames(rd, record)
            # A writer passes its input on (`data_from`); one with several inputs stores their union.
            stage["writer"] = record.meta.get("data_from") not in (None, sid) or stage["use"].startswith("write.")
            if removed is not None and "reason" in removed.collect_schema().names():
                stage["reasons"] = _reasons(removed)
            if output is not None and not stage["writer"]:
                new = [c for c in output.collect_schema().names() if c not in seen_columns]
                seen_columns.update(new)
                distributions += column_distributions(sid, output, new, removed)
            if output is not None and stage["writer"]:
                distributions += length_distributions(sid, output)
            rows[sid] = {"kept": _sample(output, sample), "removed": _sample_removed(removed, sample),
                         "kept_total": stage["rows_out"], "removed_total": stage["rows_removed"]}
        except (OSError, KeyError, pl.exceptions.PolarsError) as exc:
            warnings.append(f"stage {sid!r}: its checkpoint could not be read ({type(exc).__name__}: {exc}); "
                            f"it is shown from run.json only")
    if not any(s["writer"] for s in stages):  # no writer: the lengths of what the last stage kept
        last = next((s for s in reversed(stages) if s["id"] in rows), None)
        if last is not None:
            output, _ = _frames(rd, records[last["id"]])
            if output is not None:
                distributions += length_distributions(last["id"], output)
    return {
        "name": (manifest.get("recipe") or {}).get("name") or rd.path.name,
        "path": str(rd.path),
        "complete": bool(manifest.get("complete")),
        "provenance": _provenance(manifest, stages),
        "stages": stages,
        "usage": _usage(stages),
        "distributions": distributions,
        "rows": rows,
        "warnings": warnings,
    }


def _manifest(rd: curate.RunDir) -> dict[str, Any]:
    if not rd.path.exists():
        raise BadRunDir(f"{rd.path} does not exist", hint="give the run directory of a run (default runs/<recipe>)")
    if not rd.path.is_dir():
        raise BadRunDir(f"{rd.path} is a file, not a run directory", hint="give the folder that holds run.json")
    if not rd.manifest_path.is_file():
        raise BadRunDir(f"{rd.path} is not a curate run directory: it has no run.json",
                        hint="give the folder `curate run` wrote (--run-dir, default runs/<recipe>)")
    manifest = rd.manifest()
    if not isinstance(manifest, dict) or not isinstance(manifest.get("stages", []), list):
        raise BadRunDir(f"{rd.manifest_path} is not a readable run manifest (empty, cut off or not JSON)",
                        hint="rerun the recipe with this --run-dir to rewrite it")
    return manifest


def _frames(rd: curate.RunDir, record: curate.StageRecord) -> tuple[pl.LazyFrame | None, pl.LazyFrame | None]:
    """The stage's output and removed rows, lazily; ``None`` for what it does not have."""
    out_path, removed_path = curate.RunDir.output_file(record.dir), curate.RunDir.removed_file(record.dir)
    data_from = record.meta.get("data_from")
    while data_from and data_from != record.id:  # a writer passes its input on: the rows it received
        record = rd.stage(data_from)
        out_path, data_from = curate.RunDir.output_file(record.dir), record.meta.get("data_from")
    if not out_path.exists():
        raise FileNotFoundError(f"{out_path} is missing")
    output = pl.scan_parquet(out_path)
    output.collect_schema()  # a truncated file fails here, not halfway through the report
    removed = pl.scan_parquet(removed_path) if removed_path.exists() else None
    return output, removed


#: numbers in a removal reason ("reward -1.67 < -1.01") are replaced by this when reasons are counted
NUMBER = "#"


def _reasons(removed: pl.LazyFrame) -> list[list[Any]]:
    """Removed rows per reason, numbers in reasons replaced by ``#`` so that reasons that differ
    only in a score or a length count together; most frequent first."""
    kind = pl.col("reason").cast(pl.String).fill_null("(no reason)").str.replace_all(
        r"(^|[\s(\[=<>:,])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "${1}" + NUMBER)  # not ids like math-5
    counts = (removed.select(kind.alias("reason")).group_by("reason").len()
              .sort(["len", "reason"], descending=[True, False]).collect())
    return [[str(r), int(n)] for r, n in counts.iter_rows()]


def _sample(frame: pl.LazyFrame | None, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` rows spread evenly over the frame (deterministic, no full read into memory)."""
    if frame is None or n <= 0:
        return []
    total = frame.select(pl.len()).collect().item()
    if total > n:
        step = total / n
        wanted = [int(i * step) for i in range(n)]
        frame = frame.with_row_index("__row").filter(pl.col("__row").is_in(wanted)).drop("__row")
    return [_json_row(r) for r in frame.head(n).collect().iter_rows(named=True)]


def _sample_removed(removed: pl.LazyFrame | None, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` removed rows, the first few of every reason, so rare reasons show up too."""
    if removed is None or n <= 0:
        return []
    if "reason" not in removed.collect_schema().names():
        return _sample(removed, n)
    reasons = removed.select(pl.col("reason").n_unique()).collect().item()
    per_reason = max(1, math.ceil(n / max(reasons, 1)))
    picked = removed.filter(pl.int_range(pl.len()).over("reason") < per_reason).head(n).collect()
    return [_json_row(r) for r in picked.iter_rows(named=True)]


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items() if not k.startswith("__")}


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + f" … [{len(value):,} chars]"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)  # dates, decimals, bytes: shown as text


def _provenance(manifest: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    started, finished = _time(manifest.get("started")), _time(manifest.get("finished"))
    packages: dict[str, str] = {"curate-llm": manifest.get("curate_version") or "?"}
    for s in stages:
        if s.get("package"):
            packages.setdefault(s["package"], s.get("version") or "?")
    engines = []
    for name, e in sorted((manifest.get("engines") or {}).items()):
        identity = e.get("identity") or {}
        model = identity.get("model") if isinstance(identity, dict) else None
        engines.append({"name": name, "use": e.get("use"), "package": e.get("package"), "version": e.get("version"),
                        "model": model, "identity": identity})
        if e.get("package"):
            packages.setdefault(e["package"], e.get("version") or "?")
    recipe = manifest.get("recipe") or {}
    return {
        "recipe_name": recipe.get("name"), "description": recipe.get("description"),
        "recipe_file": manifest.get("recipe_file"),
        "recipe_yaml": yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=110) if recipe else "",
        "started": manifest.get("started"), "finished": manifest.get("finished"),
        "seconds": (finished - started).total_seconds() if started and finished else None,
        "packages": [[p, v] for p, v in packages.items()],
        "engines": engines,
        "finished_stages": [s["id"] for s in stages if s["status"] != "not run"],
        "not_run": [s["id"] for s in stages if s["status"] == "not run"],
    }


def _time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def _usage(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Engine usage summed over stages: one entry per recipe engine, with tokens per second."""
    totals: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for s in stages:
        for engine, figures in (s.get("engines") or {}).items():
            into = totals.setdefault(engine, {})
            for key, value in (figures or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    into[key] = into.get(key, 0) + value
            seconds[engine] = seconds.get(engine, 0.0) + s["seconds"]
    usage = []
    for engine, figures in sorted(totals.items()):
        tokens = figures.get("completion_tokens")
        rate = tokens / seconds[engine] if tokens and seconds.get(engine) else None
        usage.append({"engine": engine, **figures, "completion_tokens_per_s": rate})
    return usage


__all__ = ["collect", "BadRunDir", "SAMPLE_ROWS", "USAGE_KEYS"]
