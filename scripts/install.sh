#!/usr/bin/env bash
# Install curate and its first-party plugins into the current Python (idempotent).
# torch comes first and pinned: 2.13.0 resolves to the CPU build, so nothing pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
plugins=()
for p in plugins/curate-*/; do plugins+=(-e "$p"); done
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check -e ".[hf,dev]" "${plugins[@]}"
