#!/usr/bin/env bash
# Set up curate on a fresh machine and run the quickstart recipe (offline, CPU, no model needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
exec curate run recipes/quickstart.yaml "$@"
