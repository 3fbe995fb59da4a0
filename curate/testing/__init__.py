"""Test helpers for curate plugin authors (also a pytest plugin: the fixtures load automatically).

* :class:`ScriptedEngine` — a chat engine that answers from a queue of canned replies and records
  every request in ``history``; :class:`ScriptedScorer` — a score engine (reward model) whose
  scores come from a function;
* :func:`run_stage` — run a one-stage recipe (reader + your stage) over a DataFrame, through the
  real runner, and get the kept and removed rows back;
* fixtures ``curate_plugin`` (register a plugin for one test) and ``scripted_engine``;
* :mod:`curate.testing.fault_server` — ``FaultServer``: an OpenAI-compatible local server with
  injectable faults (429 + Retry-After, 500, connection reset, hangs, context-length errors);
* :mod:`curate.testing.batch_server` — ``BatchServer``: OpenAI's Files + Batches API (and the live
  chat route on the same base URL) for batch engines, with injectable faults (a batch that
  expires, fails part of its requests, fails whole or is cancelled; uploads, creates, polls and
  downloads that fail; slow batches) and per-custom-id counters of submissions and answers;
* :mod:`curate.testing.anthropic_server` — ``AnthropicServer``: Anthropic's Messages API (live
  ``/v1/messages`` with the fault server's faults, plus 529 overloaded; Message Batches with the
  batch server's faults: expire, partial failure, cancel, a lost create, failing polls);
* :mod:`curate.testing.object_store` — ``ObjectStoreServer``: a local S3-compatible server (moto)
  that points the standard AWS variables at itself, for ``s3://`` inputs and outputs offline
  (fixture ``object_store``);
* :mod:`curate.testing.tiny_model` — ``build_tiny_llama(path)``: a real tiny model built offline;
  ``build_tiny_reward_model(path, num_labels=1 | 5)``: a tiny sequence-classification reward model.

Example::

    def test_my_filter(curate_plugin):
        curate_plugin(my_plugin_module)
        out = run_stage("filter.mine", pl.DataFrame({"response": ["ok", ""]}))
        assert out.kept["response"].to_list() == ["ok"]
"""

from curate.testing.anthropic_server import AnthropicServer
from curate.testing.batch_server import BatchServer
from curate.testing.object_store import ObjectStoreServer
from curate.testing.scripted_engine import ScriptedEngine, ScriptedScorer
from curate.testing.stage_runner import StageRun, run_stage

__all__ = ["ScriptedEngine", "ScriptedScorer", "run_stage", "StageRun", "AnthropicServer", "BatchServer",
           "ObjectStoreServer"]
