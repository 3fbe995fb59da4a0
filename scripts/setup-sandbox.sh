#!/usr/bin/env bash
# Make sure bubblewrap (`bwrap`), the sandbox of curate-sandbox and `judge.code`, is installed.
#
#   bash scripts/setup-sandbox.sh          # silent when bwrap >= 0.8 is already there
#
# Idempotent and quiet: does nothing when a recent enough bwrap is on PATH; otherwise installs
# the Debian/Ubuntu package `bubblewrap` with apt-get (as root, or through `sudo -n`), running
# `apt-get update` only when the package is not in the package lists yet. Then checks that bwrap
# can make its namespaces here, and says what to change when it cannot (exit status 1).
set -euo pipefail

MIN_VERSION="0.8"
log() { printf '[setup-sandbox] %s\n' "$*" >&2; }

version_ok() {
    local v
    v="$(bwrap --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1)" || return 1
    [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$MIN_VERSION" "$v" | sort -V | head -n 1)" = "$MIN_VERSION" ]
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else
        log "bubblewrap is missing and this user cannot install packages; as root run:"
        log "  apt-get update && apt-get install -y bubblewrap"
        exit 1
    fi
}

if ! command -v bwrap >/dev/null || ! version_ok; then
    if ! command -v apt-get >/dev/null; then
        log "bwrap >= $MIN_VERSION is needed and there is no apt-get: install bubblewrap with your package manager"
        exit 1
    fi
    log "installing bubblewrap (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -qq bubblewrap >/dev/null 2>&1; then
        as_root apt-get update -qq >/dev/null
        as_root apt-get install -y -qq bubblewrap >/dev/null
    fi
    if ! version_ok; then
        log "the installed bubblewrap is older than $MIN_VERSION ($(bwrap --version 2>&1)); use Debian 12 / Ubuntu 24.04 or later"
        exit 1
    fi
fi

# bwrap needs user namespaces; some systems forbid them to unprivileged users.
if ! err="$(bwrap --unshare-all --die-with-parent --ro-bind / / -- true 2>&1)"; then
    log "bwrap is installed but cannot create its namespaces: $err"
    log "fix: sysctl -w kernel.unprivileged_userns_clone=1 (Debian < 11), or on Ubuntu >= 23.10"
    log "     sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for bwrap);"
    log "     in a container, allow the unshare/mount syscalls (e.g. docker --security-opt seccomp=unconfined)"
    exit 1
fi
