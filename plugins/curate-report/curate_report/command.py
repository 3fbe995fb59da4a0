"""``curate report RUN_DIR [RUN_DIR ...] [-o OUT]``: the command this plugin adds to ``curate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import curate

HELP = "write a run's report.html again, or one report comparing several runs"
DESCRIPTION = """\
With one run directory: rewrite RUN_DIR/report.html (or -o OUT).
With several: write one report that puts them side by side (default: report-compare.html in the
current folder), e.g. round k vs round k+1 of a weak-to-strong loop:

  curate report runs/round1 runs/round2 -o rounds.html
"""


def add_report_command(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (what `curate run` wrote)")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write the report (.html)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from curate_report import write_comparison, write_run_report

    if args.output and Path(args.output).is_dir():
        raise curate.UserInputError(f"-o {args.output} is a folder", hint="give a file name, e.g. -o report.html")
    if len(args.run_dirs) == 1:
        path = write_run_report(args.run_dirs[0], args.output)
    else:
        path = write_comparison(args.run_dirs, args.output or "report-compare.html")
    print(f"wrote {path}", file=sys.stderr)
    return 0
