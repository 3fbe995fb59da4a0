"""The hooks a curate plugin may implement.

Every registration hook receives a ``register`` callable built by the host; call it once per
component class. Hookspecs only ever *gain* arguments, so an implementation may accept fewer
arguments than listed here and keep working when new ones are added.

A plugin is a module (or object) with functions decorated by :data:`curate.hookimpl`::

    import curate

    @curate.hookimpl
    def curate_register_filters(register):
        register(MyFilter)

Every hook is documented, with an example, in ``docs/plugin-hooks.md``; a test fails when one is
not.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "curate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def curate_register_readers(register):
    """Register reader classes (subclasses of :class:`curate.Reader`).

    :param register: call ``register(ReaderClass)`` for each reader this plugin provides.
    """


@hookspec
def curate_register_writers(register):
    """Register writer classes (subclasses of :class:`curate.Writer`).

    :param register: call ``register(WriterClass)`` for each writer.
    """


@hookspec
def curate_register_generators(register):
    """Register generator classes (subclasses of :class:`curate.Generator`).

    :param register: call ``register(GeneratorClass)`` for each generator.
    """


@hookspec
def curate_register_judges(register):
    """Register judge classes (subclasses of :class:`curate.Judge`).

    :param register: call ``register(JudgeClass)`` for each judge.
    """


@hookspec
def curate_register_filters(register):
    """Register filter classes (subclasses of :class:`curate.Filter`).

    :param register: call ``register(FilterClass)`` for each filter.
    """


@hookspec
def curate_register_dedups(register):
    """Register deduplicator classes (subclasses of :class:`curate.Dedup`).

    :param register: call ``register(DedupClass)`` for each deduplicator.
    """


@hookspec
def curate_register_engines(register):
    """Register chat engines (subclasses of :class:`curate.ChatEngine`): LLM backends.

    :param register: call ``register(EngineClass)`` for each engine.
    """


@hookspec
def curate_register_score_engines(register):
    """Register score engines (subclasses of :class:`curate.ScoreEngine`): reward models.

    :param register: call ``register(ScoreEngineClass)`` for each engine.
    """


@hookspec
def curate_register_executors(register):
    """Register executors (subclasses of :class:`curate.Executor`): how a run's stages execute,
    e.g. in this process (``local``) or on a Ray cluster (``ray``, from curate-ray).

    :param register: call ``register(ExecutorClass)`` for each executor.
    """


@hookspec
def curate_register_commands(subparsers):
    """Add subcommands to the ``curate`` command line (e.g. ``curate report`` from curate-report).

    :param subparsers: the ``argparse`` subparsers of ``curate``: call
        ``subparsers.add_parser(name, help=...)``, add arguments, and
        ``set_defaults(func=handler)``; ``handler(args)`` returns the exit status. A handler raises
        :class:`curate.UserInputError` for bad input (exit 2, message, no traceback).
    """


@hookspec
def curate_run_started(recipe, run_dir):
    """Called once after the recipe was validated and engines started, before any stage runs.

    :param recipe: the :class:`curate.Recipe` being run.
    :param run_dir: the run's :class:`curate.RunDir` (layout and readers of the run directory).
    """


@hookspec
def curate_stage_started(recipe, stage_id, component, run_dir):
    """Called before a stage runs (not when it is restored from its checkpoint).

    :param recipe: the :class:`curate.Recipe` being run.
    :param stage_id: the stage's id in the recipe.
    :param component: the configured component instance.
    :param run_dir: the run's :class:`curate.RunDir`.
    """


@hookspec
def curate_stage_finished(recipe, stage_id, stats, run_dir):
    """Called after a stage ran or was restored from its checkpoint.

    :param recipe: the :class:`curate.Recipe` being run.
    :param stage_id: the stage's id in the recipe.
    :param stats: the stage's :class:`curate.StageStats` (rows in/out/removed, seconds, cached).
    :param run_dir: the run's :class:`curate.RunDir`.
    """


@hookspec
def curate_run_finished(recipe, result, run_dir, complete):
    """Called once when the run ends: after every stage finished, and also when it failed or was
    interrupted (then ``complete`` is false and ``result.stats`` holds the stages that finished).

    :param recipe: the :class:`curate.Recipe` that ran.
    :param result: the :class:`curate.RunResult`.
    :param run_dir: the run's :class:`curate.RunDir`.
    :param complete: true when every stage finished.
    """
