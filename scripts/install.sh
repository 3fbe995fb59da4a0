#!/usr/bin/env bash
# Install curate and its first-party plugins into the current Python (idempotent).
# torch comes first and pinned: 2.13.0 resolves to the CPU build, so nothing pulls CUDA wheels.
# (vLLM goes into its own virtualenv: scripts/setup-vllm-venv.sh.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check \
    -e ".[hf,dev]" \
    -e plugins/curate-openai \
    -e plugins/curate-transformers \
    -e plugins/curate-vllm \
    -e "plugins/curate-dedup[semantic,bench]" \
    -e plugins/curate-filters
