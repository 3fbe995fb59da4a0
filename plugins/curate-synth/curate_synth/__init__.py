"""curate-synth: synthetic prompts and dialogues, as Nemotron-4 and Llama 3 make them.

Generators (see docs/plugins/synth.md): ``generate.topics`` (a source), open and closed Q&A,
writing, math and Python problems, instruction-following prompts with verifiable constraints,
two-turn prompts, dialogues, refusals for incapable tasks, and code SFT seeds. Every one renders
project-written Jinja templates (replaceable from a recipe), asks for JSON-schema output when
the engine can, seeds every random choice, and records provenance on every row.
"""

from curate import hookimpl

from curate_synth.topics import Topics
from curate_synth.open_qa import OpenQA
from curate_synth.writing import Writing
from curate_synth.closed_qa import ClosedQA
from curate_synth.problems import CodeProblems, MathProblems
from curate_synth.next_user_turn import NextUserTurn
from curate_synth.instruction_following import InstructionFollowing
from curate_synth.dialogue import Dialogue
from curate_synth.incapable import Incapable
from curate_synth.self_instruct import SelfInstruct
from curate_synth.evol_instruct import EvolInstruct
from curate_synth.code_backtranslation import CodeBacktranslation

# Each component module registers below; keep one import and one register line per class.


@hookimpl
def curate_register_generators(register):
    register(Topics)
    register(OpenQA)
    register(Writing)
    register(ClosedQA)
    register(MathProblems)
    register(CodeProblems)
    register(NextUserTurn)
    register(InstructionFollowing)
    register(Dialogue)
    register(Incapable)
    register(SelfInstruct)
    register(EvolInstruct)
    register(CodeBacktranslation)
