"""curate's built-in components: readers, writers, exact dedup and basic filters.

This module is a plugin like any other: it is registered with the same hooks a third-party
package implements (see CONTRIBUTING.md).
"""

from curate.builtins import dedup_exact, filters, generate_responses, readers, writers
from curate.hookspecs import hookimpl


@hookimpl
def curate_register_readers(register):
    register(readers.JsonlReader)
    register(readers.ParquetReader)
    register(readers.HFDiskReader)


@hookimpl
def curate_register_writers(register):
    register(writers.JsonlWriter)
    register(writers.ParquetWriter)
    register(writers.HFDiskWriter)


@hookimpl
def curate_register_dedups(register):
    register(dedup_exact.ExactDedup)


@hookimpl
def curate_register_filters(register):
    register(filters.LengthFilter)
    register(filters.RegexFilter)


@hookimpl
def curate_register_generators(register):
    register(generate_responses.GenerateResponses)


@hookimpl
def curate_register_executors(register):
    from curate.runner.executor import LocalExecutor

    register(LocalExecutor)
