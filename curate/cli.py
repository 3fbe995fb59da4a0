"""The ``curate`` command line. Exit codes: 0 success, 2 invalid recipe/params/input, 1 failure
while running, 130 interrupted (finished work is kept; rerun to resume)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from curate.errors import BatchesPending, CurateError, PluginError, StageFailure, UserInputError

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Turn recipe files into LLM post-training datasets.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("run", help="run a recipe (resumes from checkpoints)")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--run-dir", help="run directory (default runs/<recipe name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe value, e.g. engines.default.model=x or stages.dedup.with.column=text")
    p.add_argument("--fresh", action="store_true",
                   help="discard the previous run in the run directory and start over (only after the recipe "
                        "validated and its engines started; only a curate run directory is ever deleted)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the stage graph with what would be reused; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--executor", default="local",
                   help="how stages run: local (this process; default) or another registered executor, e.g. ray "
                        "(pip install curate-ray); see `curate plugins`")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="with --executor ray: the cluster to join (auto, or ray://host:10001); default: start a "
                        "local Ray cluster for the run and stop it after")
    p.add_argument("--executor-opt", dest="executor_opts", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the executor (repeatable; the value is read as YAML), e.g. "
                        "--executor-opt batch_rows=65536 --executor-opt checkpoint_compression=zstd with "
                        "--executor ray; `curate describe ray` lists them")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write the run's report (report.html) at the end")
    p.add_argument("--no-wait", dest="wait", action="store_false",
                   help="submit batch jobs and exit instead of waiting; run the same command again to pick them up")

    p = sub.add_parser("validate", help="check a recipe without running it")
    p.add_argument("recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")

    p = sub.add_parser("plugins", help="list every component by kind, with the package that gave it")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("describe", help="show a component's params and columns")
    p.add_argument("name")

    p = sub.add_parser("show", help="print rows of a stage's output (or its removed rows, with their reasons)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (runs/<recipe name>)")
    p.add_argument("stage", metavar="STAGE", nargs="?",
                   help="stage id or folder name (03-dedup); default: the last stage that ran")
    p.add_argument("--removed", action="store_true", help="the rows the stage removed, with their reason")
    p.add_argument("--reason", metavar="TEXT", help="only removed rows whose reason contains TEXT (any case)")
    p.add_argument("--where", metavar="EXPR",
                   help='filter, e.g. \'score > 0.5 and task == "math" and response ~ "(?i)sorry"\' '
                        "(ops: == != < <= > >= ~ regex; see docs/inspect.md)")
    p.add_argument("-n", type=int, default=5, metavar="N", help="rows to print (default 5)")
    p.add_argument("--full", action="store_true", help="do not fold long texts")

    p = sub.add_parser("status", help="where a run stands: finished, running or crashed, stage by stage")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (runs/<recipe name>)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _plugin_commands(sub)
    return parser


def _plugin_commands(sub: Any) -> None:
    """Commands plugins add (``curate_register_commands``); a plugin that fails here loses its
    commands, not the command line."""
    from curate.plugins import plugin_manager

    for impl in plugin_manager().hook.curate_register_commands.get_hookimpls():
        try:
            impl.function(subparsers=sub)
        except Exception as exc:  # noqa: BLE001
            logging.getLogger("curate").warning("plugin %r could not add its commands: %s: %s",
                                                impl.plugin_name, type(exc).__name__, exc)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.version:
        from curate import __version__

        out_console.print(__version__)
        return EXIT_OK
    if not args.command:
        _parser().print_help()
        return EXIT_INVALID
    try:
        plugin_command = getattr(args, "func", None)  # set by a command a plugin added
        if plugin_command is not None:
            return plugin_command(args)
        return {"run": cmd_run, "validate": cmd_validate, "plugins": cmd_plugins, "describe": cmd_describe,
                "show": cmd_show, "status": cmd_status}[args.command](args)
    except UserInputError as exc:
        _print_error(exc)
        return EXIT_INVALID
    except StageFailure as exc:
        _print_error(exc)
        if isinstance(exc.cause, UserInputError):
            return EXIT_INVALID
        return EXIT_FAILED
    except BatchesPending as exc:  # --no-wait: not a failure, the run goes on when rerun
        err_console.print(str(exc), markup=False, soft_wrap=True)
        return EXIT_OK
    except (PluginError, CurateError) as exc:
        _print_error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err_console.print("\ninterrupted: finished stages and completed requests are saved; "
                          "run the same command again to resume", markup=False)
        return EXIT_INTERRUPTED


def _print_error(exc: BaseException) -> None:
    err_console.print(f"error: {exc}", markup=False, soft_wrap=True)


def cmd_run(args: argparse.Namespace) -> int:
    from curate.plugins import plugin_manager, registry
    from curate.recipe import load_recipe
    from curate.runner.plan import build_plan
    from curate.runner.progress import counter_lines, summary_table
    from curate.runner.run import Runner, make_executor

    recipe = load_recipe(args.recipe, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / recipe.name
    plan = build_plan(recipe, registry(), run_dir)
    if args.ray_address and args.executor == "local":
        raise UserInputError("--ray-address needs --executor ray", hint="add --executor ray (pip install curate-ray)")
    options = _executor_options(args.executor_opts)
    if args.ray_address:
        options["address"] = args.ray_address
    executor = make_executor(args.executor, options or None)
    runner = Runner(plan, executor, plugin_manager().hook, show_progress=not args.quiet,
                    options={"report": args.report, "wait": args.wait})
    if args.dry_run:
        _print_plan(args.recipe, plan, set() if args.fresh else set(runner.reusable()))
        out_console.print(f"dry run: nothing was run (run directory: {run_dir})", markup=False)
        return EXIT_OK
    started = time.time()
    result = runner.run(fresh=args.fresh)
    err_console.print(summary_table(result))
    for line in counter_lines(result):
        err_console.print(line, markup=False)
    for stage_id in result.outputs:
        comp = plan.stage(stage_id).component
        paths = [str(p) for p in comp.output_paths(comp.ctx)] if comp.ctx else []
        rows = result.outputs.height(stage_id)  # type: ignore[attr-defined]
        err_console.print(f"wrote {', '.join(paths) or stage_id} ({stage_id}): {rows:,} rows", markup=False)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", style="yellow", markup=False)
    report = result.rundir.report_path
    if args.report and report.exists() and report.stat().st_mtime >= started:
        err_console.print(f"report: {report}", markup=False)
    err_console.print(f"run directory: {result.run_dir}", markup=False)
    return EXIT_OK


def _executor_options(pairs: list[str]) -> dict[str, Any]:
    """``--executor-opt KEY=VALUE`` pairs as the executor's params (values read as YAML)."""
    import yaml

    options: dict[str, Any] = {}
    for text in pairs:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--executor-opt {text!r} is not KEY=VALUE",
                                 hint="e.g. --executor-opt batch_rows=65536; `curate describe <executor>` lists the keys")
        try:
            options[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            options[key.strip()] = raw
    return options


def _print_plan(recipe_path: str, plan: Any, reused: set[str] | None) -> None:
    from curate.runner.plan import graph_lines

    engines = ", ".join(f"{name} ({e.name} {e.capability})" for name, e in sorted(plan.engines.items())) or "none"
    out_console.print(f"{recipe_path}: valid recipe {plan.recipe.name!r}: {len(plan.stages)} stages, "
                      f"engines: {engines}", markup=False)
    for line in graph_lines(plan, reused):
        out_console.print("  " + line, markup=False)


def cmd_validate(args: argparse.Namespace) -> int:
    import tempfile

    from curate.plugins import registry
    from curate.recipe import load_recipe
    from curate.runner.plan import build_plan

    recipe = load_recipe(args.recipe, args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        plan = build_plan(recipe, registry(), Path(tmp))
        _print_plan(args.recipe, plan, None)
    return EXIT_OK


def _plain_text(text: str) -> str:
    """reStructuredText inline markup as plain text: ``code``, `x`, :role:`x`, :role:`title <x>`,
    :class:`~a.b.C` (shown as C), `title <url>`_, **strong**, *emphasis*."""
    import re

    def role(m: re.Match[str]) -> str:
        content = m.group(1).strip()
        titled = re.fullmatch(r"(.+?)\s*<[^<>]+>", content)
        if titled:
            return titled.group(1)
        content = content.lstrip("!")
        return content.rsplit(".", 1)[-1] if content.startswith("~") else content

    text = re.sub(r"(?::[\w.+-]+)+:`([^`]+)`", role, text)
    text = re.sub(r"``(.+?)``", r"\1", text)
    text = re.sub(r"`([^`]+?)\s*<[^<>`]+>`_{1,2}", r"\1", text)
    text = re.sub(r"`([^`]+)`_{0,2}", r"\1", text)
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"\1", text)
    return re.sub(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])", r"\1", text)


def _summary(cls: type) -> str:
    """The first sentence of a component's docstring, whole, in plain text: up to the first '. '
    (not after 'e.g.', 'i.e.', 'cf.' or 'vs.') or the end of the first paragraph."""
    import inspect
    import re

    doc = inspect.cleandoc(cls.__doc__ or "").strip()
    paragraph = re.split(r"\n\s*\n", doc, maxsplit=1)[0]
    text = _plain_text(" ".join(paragraph.split()))
    end = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)(?<!\bvs)[.!?](?=\s)", text)
    return text[: end.end()] if end else text


def _component_rows() -> list[dict[str, Any]]:
    from curate.plugins import registry
    from curate.registry import KINDS

    reg = registry()
    rows = []
    for kind in KINDS:
        for cls in reg.items(kind):
            origin = reg.origin(cls)
            rows.append({"kind": kind, "name": cls.name, "plugin": origin.plugin, "package": origin.package,
                         "version": origin.version, "summary": _summary(cls)})
    return rows


_SUMMARY_BESIDE_MIN = 40  # narrower than this beside name and package: the summary goes below


def _plugins_listing(rows: list[dict[str, Any]], width: int) -> list[str]:
    """Components grouped by kind: `name  package version`, and the summary wrapped beside it when
    the terminal is wide enough, else below it, indented."""
    import textwrap

    width = max(width, 40)
    origins = [" ".join(filter(None, [r["package"] or r["plugin"], r["version"]])) for r in rows]
    name_w = max((len(r["name"]) for r in rows), default=0)
    origin_w = max((len(o) for o in origins), default=0)
    left = 2 + name_w + 2 + origin_w + 2
    beside = width - left >= _SUMMARY_BESIDE_MIN
    lines: list[str] = []
    kind = None
    for row, origin in zip(rows, origins):
        if row["kind"] != kind:
            kind = row["kind"]
            lines += ([""] if lines else []) + [f"{kind}s"]
        head = f"  {row['name']:<{name_w}}  {origin}"
        if not row["summary"]:
            lines.append(head)
        elif beside:
            wrapped = textwrap.wrap(row["summary"], width - left, break_on_hyphens=False)
            lines.append(f"  {row['name']:<{name_w}}  {origin:<{origin_w}}  {wrapped[0]}")
            lines += [" " * left + part for part in wrapped[1:]]
        else:
            lines.append(head)
            lines += textwrap.wrap(row["summary"], width, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                   break_on_hyphens=False)
    return lines


def cmd_plugins(args: argparse.Namespace) -> int:
    import shutil

    from curate.plugins import registry

    rows = _component_rows()
    failed = registry().failed
    if args.json:
        print(json.dumps({"components": rows, "failed": failed}, indent=2))
        return EXIT_OK
    for line in _plugins_listing(rows, shutil.get_terminal_size((80, 24)).columns):
        print(line.rstrip())
    for name, error in failed.items():
        err_console.print(f"plugin {name!r} failed to load: {error}", markup=False)
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    from curate.describe import describe

    out_console.print(describe(args.name), markup=False)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from curate.rundir import RunDir
    from curate.show import render, select

    if args.n < 1:
        raise UserInputError(f"-n {args.n}: show at least one row")
    selection = select(RunDir(args.run_dir), args.stage, removed=args.removed, reason=args.reason,
                       where=args.where, limit=args.n)
    for part in render(selection, full=args.full):
        out_console.print(part)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from curate.rundir import RunDir
    from curate.status import render, run_status

    status = run_status(RunDir(args.run_dir))
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return EXIT_OK
    for part in render(status):
        out_console.print(part)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
