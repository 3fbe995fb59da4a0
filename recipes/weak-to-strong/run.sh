#!/usr/bin/env bash
# Weak-to-strong, two rounds, offline: build tiny stand-in models, run the recipe once per round
# with the generator changed by one --set, each round in its own run directory, then compare them.
#
#   bash recipes/weak-to-strong/run.sh [WORK_DIR]     # default: runs/weak-to-strong
#   open runs/weak-to-strong/rounds.html              # round1 vs round2 side by side
#
# In a real loop, models/round2 is the checkpoint you aligned on round 1's preference.jsonl;
# here it is another tiny random Llama (another seed), so the rounds differ without training.
set -euo pipefail
recipe="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipe.yaml"
work="${1:-runs/weak-to-strong}"
PY="${PYTHON:-python3}"
mkdir -p "$work"
cd "$work"

# The stand-in models (offline, a few seconds; reused when they exist).
"$PY" - <<'PYTHON'
from curate.testing.tiny_model import HELPSTEER2_LABELS, build_tiny_llama, build_tiny_reward_model

build_tiny_llama("models/round1", seed=1)
build_tiny_llama("models/round2", seed=2)
build_tiny_reward_model("models/reward", num_labels=5, id2label=dict(enumerate(HELPSTEER2_LABELS)), seed=0)
PYTHON

for round in 1 2; do
    "$PY" -m curate run "$recipe" --quiet --run-dir "round$round" --set "engines.generator.model=models/round$round"
done
"$PY" -m curate report round1 round2 -o rounds.html
