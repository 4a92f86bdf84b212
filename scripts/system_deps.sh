#!/usr/bin/env bash
# System packages the tests use, from Debian's archive: the compose CLI (to check docker-compose.yml; there is no
# Docker engine here) and Chromium (the release board's browser test, driven by Playwright). Installed only when
# missing; without root or apt-get it says what to install and the tests that need them skip or, in CI, fail.
set -euo pipefail
missing=()
if ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
  missing+=(docker-compose)
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} from Debian's archive"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
else
  echo "warning: please install ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
fi
