#!/usr/bin/env bash
# What `npm run bench` needs beyond `npm start`'s own set-up: Debian's ansible-core (one of the compared tools).
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if ! command -v ansible-playbook >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "bench setup: ansible-core is missing; run as root or: sudo apt-get install ansible-core" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
  echo "bench setup: installed Debian package ansible-core"
fi
