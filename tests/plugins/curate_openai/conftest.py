"""Fixtures for the openai engine tests: the engine registered, and a real ``vllm serve`` of the
tiny test model (session-scoped; skipped when the vLLM CPU virtualenv is absent)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
VLLM_VENV = Path(os.environ.get("CURATE_VLLM_VENV", REPO / ".venvs" / "vllm"))
VLLM_STARTUP_TIMEOUT = float(os.environ.get("CURATE_VLLM_STARTUP_TIMEOUT", 600))
SERVED_NAME = "tiny"
MAX_MODEL_LEN = 512


@pytest.fixture
def openai_registered() -> Iterator[None]:
    """Make sure the ``openai`` engine is in the registry, installed or not."""
    import curate_openai

    from ..conftest import registered

    with registered(curate_openai, "openai", "engine", "curate-openai"):
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _models(base_url: str) -> list[str] | None:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as resp:
            return [m["id"] for m in json.loads(resp.read())["data"]]
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def vllm_server(request, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """``vllm serve`` of the tiny model on a free loopback port (CPU, 1 GiB KV cache), stopped at
    the end of the session. Yields ``base_url``, ``model`` (the served name), ``max_model_len``
    and ``log`` (the server's output file)."""
    exe = VLLM_VENV / "bin" / "vllm"
    if not exe.exists():
        pytest.skip(f"the vLLM CPU virtualenv is missing ({exe} not found): run scripts/setup-vllm-venv.sh, "
                    "or point CURATE_VLLM_VENV at one")
    tiny_model = request.getfixturevalue("tiny_model")  # built only when the server can run
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("vllm") / "vllm-serve.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    cmd = [str(exe), "serve", str(tiny_model), "--host", "127.0.0.1", "--port", str(port),
           "--served-model-name", SERVED_NAME, "--max-model-len", str(MAX_MODEL_LEN), "--seed", "0"]
    with log_path.open("wb") as log:
        # A session of its own, so the server and its worker processes stop together.
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + VLLM_STARTUP_TIMEOUT
        while _models(base_url) is None:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"vllm serve exited with code {proc.returncode} before it was ready:\n{tail}")
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"vllm serve was not ready within {VLLM_STARTUP_TIMEOUT:.0f} s:\n{tail}")
            time.sleep(1)
        yield SimpleNamespace(base_url=base_url, model=SERVED_NAME, max_model_len=MAX_MODEL_LEN, log=log_path)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group this fixture started
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
