#!/usr/bin/env bash
# Install curate (distribution `curate-llm`) and its first-party plugins, editable, into a Python.
# torch comes first and pinned: 2.13.0 resolves to the CPU build, so nothing pulls CUDA wheels.
# (vLLM goes into its own virtualenv: scripts/setup-vllm-venv.sh.)
#
#   bash scripts/install.sh                          # into python3
#   PYTHON=/some/venv/bin/python bash scripts/install.sh
#   bash scripts/install.sh . plugins/curate-vllm     # only these folders, editable (no torch pin)
#   CURATE_INSTALL_FORCE=1 bash scripts/install.sh   # run pip even when nothing changed
#
# Quick when nothing changed: after a successful install, .venvs/install-stamps/ keeps a stamp per
# interpreter and set of folders, with a hash of the interpreter (path and version), this script
# and the folders' pyproject.toml (setup.py, setup.cfg). pip is skipped when the stamp matches and
# the interpreter still has every folder installed editable from this checkout, with all their
# requirements (checked through package metadata, without importing anything: an error in the
# code is not fixed by reinstalling). A fresh machine, another interpreter or a changed file gets
# the full install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
TORCH="torch==2.13.0"
EDITABLE=(
    ".[hf,dev]"
    plugins/curate-openai
    plugins/curate-transformers
    plugins/curate-vllm
    "plugins/curate-dedup[semantic,bench]"
    plugins/curate-filters
    plugins/curate-sandbox
    "plugins/curate-judges[test]"
    plugins/curate-synth
    plugins/curate-anthropic
    plugins/curate-litellm
    plugins/curate-ray
    "plugins/curate-report[browser]"
)
if (($#)); then TORCH=""; EDITABLE=("$@"); fi

# Prints "<stamp name> <key>" for argv = PYTHON TORCH FOLDER...: the interpreter (as named and as it
# reports itself), what is to be installed, and the text of the files that decide how (this
# script, and pyproject.toml, setup.py, setup.cfg of each folder).
KEY_SCRIPT='
import hashlib, os, sys
me = hashlib.sha256("\n".join([*sys.argv[1:], sys.executable, sys.version]).encode()).hexdigest()
h = hashlib.sha256(me.encode())
folders = [arg.split("[")[0] for arg in sys.argv[3:]]
files = ["scripts/install.sh"] + [os.path.join(d, f) for d in folders for f in ("pyproject.toml", "setup.py", "setup.cfg")]
for name in files:
    if os.path.exists(name):
        with open(name, "rb") as f:
            h.update(b"\0" + name.encode() + b"\0" + f.read())
print(me[:16], h.hexdigest())
'

# Exits 0 when every folder in argv[2:] ("path[extras]") is installed editable from this checkout
# and the requirements of all of them and of argv[1] (a requirement, or "": none), recursively,
# extras and markers included, are installed in versions that satisfy them.
INSTALLED_SCRIPT='# install.sh: installed check
import importlib.metadata as md, json, re, sys
from pathlib import Path
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()]  # not ./*.egg-info
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    sys.exit("install.sh: no `packaging` module")

def dist(name):
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        sys.exit(f"install.sh: {name} is not installed")

roots = [Requirement(sys.argv[1])] if sys.argv[1] else []
for arg in sys.argv[2:]:
    folder, extras = re.fullmatch(r"([^\[]+)(\[.*\])?", arg).groups()
    folder = Path(folder).resolve()
    name = re.search(r"^name\s*=\s*\"([^\"]+)\"", (folder / "pyproject.toml").read_text(), re.M).group(1)
    url = json.loads(dist(name).read_text("direct_url.json") or "{}")
    if url.get("url") != folder.as_uri() or not url.get("dir_info", {}).get("editable"):
        sys.exit(f"install.sh: {name} is not installed editable from {folder}")
    roots.append(Requirement(name + (extras or "")))

seen = set()
def check(req, extra=""):
    if req.marker and not req.marker.evaluate({"extra": extra}):
        return
    key = (canonicalize_name(req.name), frozenset(req.extras))
    if key in seen:
        return
    seen.add(key)
    d = dist(req.name)
    if not req.specifier.contains(d.version, prereleases=True):
        sys.exit(f"install.sh: {req.name} {d.version} does not satisfy {req}")
    for sub in d.requires or []:
        for e in ("", *req.extras):
            check(Requirement(sub), e)

for root in roots:
    check(root)
'
# Exits 0 when the distribution named `curate` is this project under its old name.
OLD_NAME_SCRIPT='
import importlib.metadata as md, sys
from pathlib import Path
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path.cwd().resolve()]
try:
    summary = md.distribution("curate").metadata["Summary"] or ""
except md.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if summary.startswith("Recipe files in, LLM post-training datasets") else 1)
'

info="$("$PY" -c "$KEY_SCRIPT" "$PY" "$TORCH" "${EDITABLE[@]}")"
read -r stamp_name key <<<"$info"
stamp=".venvs/install-stamps/$stamp_name"
if [[ "${CURATE_INSTALL_FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$key" ]] \
   && "$PY" -c "$INSTALLED_SCRIPT" "$TORCH" "${EDITABLE[@]}"; then
  echo "install.sh: curate and its plugins are installed and nothing changed; pip skipped ($stamp)" >&2
  exit 0
fi
rm -f "$stamp"

# The core distribution used to be called `curate` (on PyPI that name is another project): remove
# the old one first, or its console script and editable finder would linger next to curate-llm.
if "$PY" -c "$OLD_NAME_SCRIPT"; then
  echo "install.sh: uninstalling this project's old distribution 'curate' (now 'curate-llm')" >&2
  "$PY" -m pip uninstall -y -q --disable-pip-version-check curate
fi
if [[ -f curate.egg-info/PKG-INFO ]] && grep -qx "Name: curate" curate.egg-info/PKG-INFO; then
  rm -rf curate.egg-info  # left by an editable install under the old name
fi

if [[ -n "$TORCH" ]]; then
  "$PY" -m pip install -q --disable-pip-version-check "$TORCH"
fi
editable_args=()
for folder in "${EDITABLE[@]}"; do editable_args+=(-e "$folder"); done
"$PY" -m pip install -q --disable-pip-version-check "${editable_args[@]}"

mkdir -p "$(dirname "$stamp")"
echo "$key" >"$stamp"
