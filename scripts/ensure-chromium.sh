#!/usr/bin/env bash
# The browser tests drive a system Chromium through Playwright: Playwright's own browser
# download is not available everywhere (and not on our CI), Debian's `chromium` is.
set -euo pipefail
for candidate in "${QWEN_MAGIC_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
        exit 0
    fi
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium for the browser tests…" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    exit 0
fi
echo "The browser tests need Chromium: install it (e.g. 'sudo apt-get install chromium') or set QWEN_MAGIC_CHROMIUM to its path." >&2
exit 1
