"""curate-synth: synthetic prompts and dialogues, as Nemotron-4 and Llama 3 make them.

Generators (see docs/plugins/synth.md): ``generate.topics`` (a source), open and closed Q&A,
writing, math and Python problems, instruction-following prompts with verifiable constraints,
two-turn prompts, dialogues, refusals for incapable tasks, and code SFT seeds. Every one renders
project-written Jinja templates (replaceable from a recipe), asks for JSON-schema output when
the engine can, seeds every random choice, and records provenance on every row.
"""

from curate import hookimpl

from curate_synth.topics import Topics

# Each component module registers below; keep one import and one register line per class.


@hookimpl
def curate_register_generators(register):
    register(Topics)
