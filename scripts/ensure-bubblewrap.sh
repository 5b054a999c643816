#!/usr/bin/env bash
# The isolation tests run --check through bubblewrap as well as util-linux's unshare: none of
# the paths may go untested. Debian's `bubblewrap` package provides `bwrap`.
set -euo pipefail
if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's bubblewrap for the --check isolation tests…" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap
    exit 0
fi
echo "The --check isolation tests need bubblewrap: install it (e.g. 'sudo apt-get install bubblewrap')." >&2
exit 1
