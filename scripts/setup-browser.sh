#!/usr/bin/env bash
# Make sure a headless browser for the report's browser test is installed: Debian's `chromium`
# and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver), driven through selenium.
#
#   bash scripts/setup-browser.sh          # silent when both are already there
#
# Idempotent and quiet, like scripts/setup-sandbox.sh: does nothing when chromium and chromedriver
# are on PATH; otherwise installs them with apt-get (as root, or through `sudo -n`), running
# `apt-get update` only when the packages are not in the package lists yet. Then checks that the
# browser starts headless. Exit status 1 (with what to do) when it cannot.
set -euo pipefail

log() { printf '[setup-browser] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else
        log "chromium is missing and this user cannot install packages; as root run:"
        log "  apt-get update && apt-get install -y chromium chromium-driver"
        exit 1
    fi
}

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        log "chromium and chromedriver are needed and there is no apt-get: install them with your package manager"
        exit 1
    fi
    log "installing chromium and chromium-driver (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
        as_root apt-get update -qq >/dev/null
        as_root apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    fi
fi

# Root in a container needs --no-sandbox (the test passes it too).
if ! out="$(timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --dump-dom 'data:text/html,<p>ok</p>' 2>&1)" || [[ "$out" != *"<p>ok</p>"* ]]; then
    log "chromium is installed but does not start headless: ${out:0:500}"
    exit 1
fi
