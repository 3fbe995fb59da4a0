"""``curate status``: where a run stands (finished, running, crashed, stopped), from its folder alone.

What the run directory tells:

* ``run.json`` is written when the run starts (``complete: false``) and again when it ends;
* ``.curate-lock`` (pid, host, start time) exists while a runner works there and is removed at
  the end, so a lock whose process is gone means the run was killed (crash, OOM, power);
* each stage folder gets ``meta.json`` when the stage finished; a folder without it is the stage
  running now, or the one a run stopped in (half-written);
* ``engines/<name>/status.json`` is what an engine wrote about its own state (batch jobs).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from curate.files import read_json
from curate.rundir import RunDir

_STATE_STYLES = {"finished": "green", "running": "cyan", "waiting": "cyan", "crashed": "red", "stopped": "yellow",
                 "unknown": "yellow", "not started": "yellow"}
_STAGE_STYLES = {"done": "green", "reused": "dim green", "running": "cyan", "waiting": "cyan", "failed": "red",
                 "not run": "dim"}


def run_status(run_dir: RunDir) -> dict[str, Any]:
    """Where the run in ``run_dir`` stands, as plain data (what ``curate status --json`` prints)."""
    run_dir.check_readable()
    manifest = run_dir.manifest()
    lock = run_dir.lock()
    status: dict[str, Any] = {"run_dir": str(run_dir.path), "lock": lock, "stages": [], "engines": []}
    if manifest is None:
        bad = run_dir.manifest_path.exists()
        status.update(state="not started" if not bad else "unknown",
                      detail="run.json is unreadable (half-written?)" if bad
                      else "no run.json: no run has started here yet")
        return status
    recipe = manifest.get("recipe") or {}
    status.update(recipe=recipe.get("name"), recipe_file=manifest.get("recipe_file"),
                  curate_version=manifest.get("curate_version"), started=manifest.get("started"),
                  finished=manifest.get("finished"))
    status.update(_run_state(manifest, lock))
    running = status["state"] == "running"
    status["stages"] = [_stage_status(run_dir, s, manifest, running) for s in manifest.get("stages") or []]
    status["engines"] = _engines(run_dir, manifest)
    return status


def _run_state(manifest: dict[str, Any], lock: dict[str, Any] | None) -> dict[str, str]:
    if manifest.get("complete"):
        return {"state": "finished", "detail": "finished"}
    if lock:
        pid, host = lock.get("pid"), lock.get("host")
        if host != socket.gethostname():
            return {"state": "unknown", "detail": f"running on {host} (pid {pid})? this host cannot tell; "
                                                  "run `curate status` there"}
        if _alive(pid):
            return {"state": "running", "detail": f"running (pid {pid} on {host})"}
        return {"state": "crashed", "detail": f"crashed or killed: pid {pid} on {host} is gone and left its lock; "
                                              "rerun the recipe to resume"}
    if any(s.get("status") == "waiting" for s in manifest.get("stages") or []):
        return {"state": "waiting", "detail": "waiting for batch jobs (the run was started with --no-wait); "
                                              "run the same command again to pick up their results"}
    return {"state": "stopped", "detail": "stopped before the end (a stage failed or the run was interrupted); "
                                          "rerun the recipe to resume"}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _stage_status(run_dir: RunDir, stage: dict[str, Any], manifest: dict[str, Any], running: bool) -> dict[str, Any]:
    entry = {"id": stage.get("id"), "use": stage.get("use"), "dir": stage.get("dir")}
    folder = run_dir.path / (stage.get("dir") or "")
    recorded = stage.get("status")
    if recorded in ("ran", "reused") and stage.get("stats"):
        return {**entry, "state": "done" if recorded == "ran" else "reused", **_figures(stage["stats"])}
    if recorded == "waiting":
        return {**entry, "state": "waiting", "detail": "for batch jobs"}
    meta_path = RunDir.meta_file(folder)
    meta = read_json(meta_path) if stage.get("dir") else None
    if meta and meta.get("fingerprint") == stage.get("fingerprint"):
        # finished during this run, or a checkpoint an earlier run left that this one reuses
        state = "reused" if _older_than(meta_path, manifest.get("started")) else "done"
        return {**entry, "state": state, **_figures(meta.get("stats") or {})}
    if stage.get("dir") and meta_path.exists() and meta is None:
        return {**entry, "state": "failed", "detail": "unreadable meta.json: the folder is damaged"}
    if stage.get("dir") and folder.is_dir() and not meta_path.exists():
        if running:
            return {**entry, "state": "running"}
        return {**entry, "state": "failed", "detail": "half-written: its folder has no meta.json"}
    return {**entry, "state": "not run"}


def _figures(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats.get(k) for k in ("rows_in", "rows_out", "rows_removed", "seconds")}


def _older_than(path: Any, iso: str | None) -> bool:
    if not iso:
        return False
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc) < dt.datetime.fromisoformat(iso)
    except (OSError, ValueError):
        return False


def _engines(run_dir: RunDir, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    engines = manifest.get("engines") or {}
    names = list(engines)
    if run_dir.engines_dir.is_dir():  # an engine may have written state the manifest does not name
        names += sorted(p.name for p in run_dir.engines_dir.iterdir() if p.is_dir() and p.name not in engines)
    out = []
    for name in names:
        spec = engines.get(name) or {}
        identity = spec.get("identity") or {}
        entry: dict[str, Any] = {"name": name, "use": spec.get("use"), "model": identity.get("model")}
        path = run_dir.engine_dir(name) / "status.json"
        if path.exists():
            data = read_json(path)
            entry["status"] = data if isinstance(data, dict) else {"summary": f"unreadable {path}"}
        out.append(entry)
    return out


# --- rendering ------------------------------------------------------------------------------------
def render(status: dict[str, Any]) -> list[RenderableType]:
    """What ``curate status`` prints."""
    state = status["state"]
    out: list[RenderableType] = [Text.assemble(("state: ", "bold"), (status["detail"], _STATE_STYLES.get(state, "")))]
    if "recipe" not in status:
        return out
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("recipe", f"{status['recipe']}" + (f" ({status['recipe_file']})" if status.get("recipe_file") else ""))
    head.add_row("run dir", status["run_dir"])
    head.add_row("started", _when(status.get("started")))
    if state in ("finished", "stopped", "waiting"):
        head.add_row("finished", _when(status.get("finished")) + _took(status.get("started"), status.get("finished")))
    elif state == "running":
        head.add_row("running for", _took(status.get("started"), None).strip(" ()"))
    out.append(head)
    stages = Table(title="stages", title_justify="left", show_edge=False, padding=(0, 1))
    for col, justify in (("stage", "left"), ("component", "left"), ("state", "left"), ("in", "right"),
                         ("out", "right"), ("removed", "right"), ("s", "right")):
        # the component gives way first on a narrow terminal: stage and state stay whole
        stages.add_column(col, justify=justify, no_wrap=col != "component")  # type: ignore[arg-type]
    for st in status["stages"]:
        state_text = Text(st["state"], style=_STAGE_STYLES.get(st["state"], ""))
        if st.get("detail"):  # the short form; --json has it whole
            state_text.append(f" ({st['detail'].split(':')[0]})", style="dim")
        stages.add_row(st["id"], st.get("use") or "", state_text, *(_count(st.get(k)) for k in
                       ("rows_in", "rows_out", "rows_removed")),
                       "" if st.get("seconds") is None else f"{st['seconds']:.1f}")
    out.append(stages)
    for engine in status["engines"]:
        out.append(_engine(engine))
    return out


def _engine(engine: dict[str, Any]) -> RenderableType:
    title = Text.assemble(("engine ", "bold"), (engine["name"], "bold"),
                          f" ({engine['use']}" + (f", {engine['model']}" if engine.get("model") else "") + ")"
                          if engine.get("use") else "")
    status = engine.get("status")
    if not status:
        return title
    parts: list[RenderableType] = [title, Text("  " + str(status.get("summary", "(no summary)")))]
    batches = status.get("batches")
    if isinstance(batches, list) and batches:
        counts_of = [(b, b.get("counts") if isinstance(b.get("counts"), dict) else {}) for b in batches
                     if isinstance(b, dict)]
        keys = list(dict.fromkeys(k for _, counts in counts_of for k in counts))
        table = Table(show_edge=False, padding=(0, 1))
        for col in ("batch", "state", *keys):
            table.add_column(col, justify="right" if col in keys else "left")
        for b, counts in counts_of:
            table.add_row(str(b.get("id", "")), str(b.get("state", "")), *(_count(counts.get(k)) for k in keys))
        parts.append(table)
    return Group(*parts)


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else ("" if n is None else str(n))


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") + " UTC" if iso else "-"


def _took(start: str | None, end: str | None) -> str:
    try:
        t0 = dt.datetime.fromisoformat(start or "")
        t1 = dt.datetime.fromisoformat(end) if end else dt.datetime.now(dt.timezone.utc)
    except ValueError:
        return ""
    seconds = int((t1 - t0).total_seconds())
    return f" ({seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s)" if seconds >= 3600 else \
        f" ({seconds // 60}m{seconds % 60:02d}s)"


__all__ = ["run_status", "render"]
