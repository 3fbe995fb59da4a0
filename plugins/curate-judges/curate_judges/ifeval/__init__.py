"""IFEval's verifiable instructions: a catalog, checkers that agree with the reference, conflicts.

IFEval (Zhou et al. 2023, "Instruction-Following Evaluation for Large Language Models") defines
25 instructions whose following can be checked by a program ("answer in fewer than 5
sentences", "wrap the answer in JSON", "end with 'Is there anything else I can help with?'").
This package is our own implementation of them, tested to agree with google-research's
reference on every instruction id, strictly and loosely (see docs/plugins/judges-ifeval.md).
It needs ``langdetect`` and ``regex``; NLTK's English Punkt model is included.

Checking (what the judge ``judge.instruction_following`` does for each row)::

    from curate_judges import ifeval

    ifeval.check("length_constraints:number_words", response, {"num_words": 300, "relation": "at least"})
    ifeval.check("punctuation:no_comma", response, {}, loose=True)     # IFEval's loose mode
    verdict = ifeval.evaluate(["punctuation:no_comma", "startend:quotation"], response, [{}, {}], prompt)
    verdict.strict, verdict.loose              # lists of bool, one per instruction
    verdict.all_strict, verdict.all_loose      # every instruction followed

Building prompts (for a generator of instruction-following data)::

    spec = ifeval.CATALOG["keywords:frequency"]
    spec.summary                      # what the response must do, in a sentence
    [a.name for a in spec.args]       # ['keyword', 'frequency', 'relation']
    spec.args[2].choices              # ('less than', 'at least')
    spec.kwargs_schema()              # JSON Schema of the kwargs
    ifeval.validate("keywords:frequency", {"keyword": "war", "frequency": 3, "relation": "at least"})
    ifeval.conflicts("detectable_format:json_format", "startend:quotation")          # True
    ifeval.conflicting_pairs(["punctuation:no_comma", "detectable_format:title"])     # []

Kwargs are dicts as in IFEval's ``input_data.jsonl``; a null value counts as absent (the Hugging
Face copy lists every key with null). Errors are :class:`IFEvalError` (a ``ValueError``):
:class:`UnknownInstruction` or :class:`InvalidKwargs`.
"""

from curate_judges.ifeval.catalog import (CATALOG, CONFLICTS, INSTRUCTION_IDS, RELATIONS, Arg, IFEvalError,
                                          Instruction, InvalidKwargs, UnknownInstruction, conflicting_pairs,
                                          conflicts, conflicts_with, instruction, validate)
from curate_judges.ifeval.checks import CONSTRAINED_ANSWERS
from curate_judges.ifeval.language import LANGUAGES
from curate_judges.ifeval.verify import Verdict, check, evaluate, loose_variants

__all__ = [
    "CATALOG", "INSTRUCTION_IDS", "RELATIONS", "LANGUAGES", "CONSTRAINED_ANSWERS", "CONFLICTS",
    "Arg", "Instruction", "instruction", "validate",
    "check", "evaluate", "Verdict", "loose_variants",
    "conflicts", "conflicts_with", "conflicting_pairs",
    "IFEvalError", "UnknownInstruction", "InvalidKwargs",
]
