"""curate-report: a self-contained HTML report of every run, and ``curate report`` to compare runs.

Installed, it writes ``RUN_DIR/report.html`` when a run ends (also when it stopped early), unless
the run was started with ``--no-report`` / ``curate.run(..., report=False)``::

    curate run recipes/quickstart.yaml          # ... and open runs/quickstart/report.html
    curate report runs/quickstart               # rewrite that report
    curate report runs/round1 runs/round2 -o compare.html   # runs side by side

The report is one HTML file that opens offline: provenance, the stage funnel with removal
reasons, timing and engine usage, distributions of scores, pass rates, lengths and clusters, and a
row browser over a sample of each stage's kept and removed rows. Everything is read through
:class:`curate.RunDir`; see docs/plugins/report.md.

Library use: :func:`write_run_report` and :func:`write_comparison`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import curate

from curate_report.collect import BadRunDir, collect
from curate_report.render import write_report

log = logging.getLogger("curate.report")


def write_run_report(run_dir: curate.RunDir | str | Path, out: str | Path | None = None) -> Path:
    """Write the report of one run (default ``RUN_DIR/report.html``) and return its path.

    :raises curate.UserInputError: when ``run_dir`` is not a readable run directory.
    """
    rd = run_dir if isinstance(run_dir, curate.RunDir) else curate.RunDir(run_dir)
    return write_report([collect(rd)], Path(out) if out else rd.report_path)


def write_comparison(run_dirs: list[curate.RunDir | str | Path], out: str | Path) -> Path:
    """Write one report that puts several runs side by side (funnels, overlaid distributions,
    changes in pass rates, rewards and diversity) and return its path."""
    return write_report([collect(rd) for rd in run_dirs], Path(out))


@curate.hookimpl
def curate_run_finished(recipe: Any, result: curate.RunResult, run_dir: curate.RunDir, complete: bool) -> None:
    if not result.options.get("report", True):
        return
    try:
        write_run_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - a report must never fail the run that it describes
        log.warning("could not write the run report %s: %s: %s (the run itself is unaffected; "
                    "retry with `curate report %s`)", run_dir.report_path, type(exc).__name__, exc, run_dir.path)


@curate.hookimpl
def curate_register_commands(subparsers: Any) -> None:
    from curate_report.command import add_report_command

    add_report_command(subparsers)


__all__ = ["write_run_report", "write_comparison", "collect", "BadRunDir"]
