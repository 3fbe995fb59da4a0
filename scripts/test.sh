#!/usr/bin/env bash
# Set up everything the tests need (curate, plugins, the vLLM CPU virtualenv) and run them.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -x tests/runner`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
bash scripts/setup-vllm-venv.sh >/dev/null
exec python3 -m pytest "$@"
