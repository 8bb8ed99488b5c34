#!/usr/bin/env bash
# Makes Node 24 and pnpm available for this repository, using only the npm registry.
#
# If the machine's `node` is already >= 22.12 and `pnpm` is on PATH, nothing is installed.
# Otherwise Node 24 (the `node` npm package, which ships the official binary) and pnpm are
# installed into .toolchain/ at the repository root, and that folder's bin/ is what to put
# first on PATH. Idempotent: a second run only checks.
#
# Usage:
#   tooling/bootstrap.sh          # installs if needed, prints the bin folder to use
#   eval "$(tooling/bootstrap.sh --env)"   # puts the toolchain on PATH in this shell
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.toolchain"
node_spec="node@24"
pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$root/package.json")"
: "${pnpm_version:?package.json must name pnpm in its packageManager field}"

log() { printf '[sluice:bootstrap] %s\n' "$*" >&2; }

node_ok() {
  local bin="$1"
  "$bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}

pnpm_ok() {
  local bin="$1"
  [ "$("$bin" --version 2>/dev/null)" = "$pnpm_version" ]
}

system_ready() {
  command -v node >/dev/null && node_ok node && command -v pnpm >/dev/null && pnpm_ok pnpm
}

local_ready() {
  [ -x "$prefix/bin/node" ] && node_ok "$prefix/bin/node" && [ -x "$prefix/bin/pnpm" ] && PATH="$prefix/bin:$PATH" pnpm_ok "$prefix/bin/pnpm"
}

install_local() {
  command -v npm >/dev/null || { log "npm is needed to fetch Node 24 from the npm registry, and none is on PATH — install any Node.js with npm first."; exit 1; }
  log "installing $node_spec and pnpm@$pnpm_version into $prefix (npm registry only)"
  mkdir -p "$prefix/lib" "$prefix/bin"
  # A private package.json keeps this install independent of the workspace's own.
  printf '{"name":"sluice-toolchain","private":true}\n' > "$prefix/lib/package.json"
  if ! npm install --prefix "$prefix/lib" --no-save --no-audit --no-fund --loglevel=error \
      "$node_spec" "pnpm@$pnpm_version" >&2; then
    log "npm could not install $node_spec / pnpm@$pnpm_version — is the npm registry reachable? (npm config get registry)"
    exit 1
  fi
  ln -sf "../lib/node_modules/.bin/node" "$prefix/bin/node"
  ln -sf "../lib/node_modules/.bin/pnpm" "$prefix/bin/pnpm"
  node_ok "$prefix/bin/node" || { log "the installed node does not run or is older than 22.12"; exit 1; }
}

if system_ready; then
  bin_dir="$(dirname "$(command -v node)")"
elif local_ready; then
  bin_dir="$prefix/bin"
else
  install_local
  bin_dir="$prefix/bin"
fi

if [ "${1:-}" = "--env" ]; then
  if [ "$bin_dir" = "$prefix/bin" ]; then printf 'export PATH=%q:"$PATH"\n' "$bin_dir"; fi
else
  log "node $(PATH="$bin_dir:$PATH" node --version), pnpm $(PATH="$bin_dir:$PATH" pnpm --version) in $bin_dir"
  echo "$bin_dir"
fi
