"""curate-judges: tell good responses from bad, and turn the judgements into datasets.

Judges (each a stage; see docs/plugins/judges.md): LLM-as-judge, reward models, ground truth for
math and code, instruction verifiers. Dataset builders: rejection sampling (best-of-N) and
preference pairs from scores, judge verdicts or ground truth.
"""

from curate import hookimpl

from curate_judges.pairs import FromGroundTruth, FromScores
from curate_judges.rmboost import RMBoost
from curate_judges.best_of_n import BestOfN
from curate_judges.pairwise import PairwiseJudge
from curate_judges.rating import RatingJudge
from curate_judges.pairs_judge import FromJudge
from curate_judges.reward import RewardModelJudge
from curate_judges.ifeval.judge import InstructionFollowingJudge
from curate_judges.math import MathJudge
from curate_judges.code import CodeJudge

# Each component module registers below; keep one import and one register line per class.


@hookimpl
def curate_register_judges(register):
    register(BestOfN)
    register(PairwiseJudge)
    register(RatingJudge)
    register(FromJudge)
    register(FromScores)
    register(FromGroundTruth)
    register(RewardModelJudge)
    register(InstructionFollowingJudge)
    register(MathJudge)
    register(CodeJudge)


@hookimpl
def curate_register_generators(register):
    register(RMBoost)
