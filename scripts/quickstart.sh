#!/usr/bin/env bash
# Set up curate on a fresh machine and run the quickstart recipe (offline, CPU, no model needed).
# PYTHON=/some/venv/bin/python: install into and run with that interpreter (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
bash scripts/setup-sandbox.sh   # judge.code runs the sample solutions in a bubblewrap sandbox
exec "${PYTHON:-python3}" -m curate run recipes/quickstart.yaml "$@"
