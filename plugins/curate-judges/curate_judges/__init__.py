"""curate-judges: tell good responses from bad, and turn the judgements into datasets.

Judges (each a stage; see docs/plugins/judges.md): LLM-as-judge, reward models, ground truth for
math and code, instruction verifiers. Dataset builders: rejection sampling (best-of-N) and
preference pairs from scores, judge verdicts or ground truth.
"""

from curate import hookimpl

from curate_judges.pairs import FromGroundTruth, FromScores
from curate_judges.rmboost import RMBoost
from curate_judges.best_of_n import BestOfN

# Each component module registers below; keep one import and one register line per class.


@hookimpl
def curate_register_judges(register):
    register(BestOfN)
    register(FromScores)
    register(FromGroundTruth)


@hookimpl
def curate_register_generators(register):
    register(RMBoost)
