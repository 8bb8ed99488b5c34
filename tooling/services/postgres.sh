#!/usr/bin/env bash
# PostgreSQL for Sluice's tests and local runs: the machine's cluster on 127.0.0.1:${SLUICE_POSTGRES_PORT:-5432}
# (user postgres, trust auth), with the database ${SLUICE_POSTGRES_DATABASE:-test} created if missing.
# Usage: tooling/services/postgres.sh start|check|stop|restart
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="${SLUICE_POSTGRES_PORT:-5432}"
database="${SLUICE_POSTGRES_DATABASE:-test}"
name="postgres:$port"

ready() { pg_isready -q -h 127.0.0.1 -p "$port" -U postgres; }

# The Debian cluster this machine runs (newest version first), e.g. "15 main".
cluster() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 1
  pg_lsclusters --no-header 2>/dev/null | awk -v port="$port" '$3 == port { print $1, $2; exit }'
}

ensure_database() {
  local exists
  exists="$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'" 2>&1)" ||
    fail "$name" "cannot connect as user postgres: $exists"
  if [ "$exists" != 1 ]; then
    createdb -h 127.0.0.1 -p "$port" -U postgres "$database" || fail "$name" "cannot create database $database"
    say "$name" "created database $database"
  fi
}

check() {
  if ready; then
    say "$name" ready
  else
    say "$name" 'not running (start it with tooling/services/postgres.sh start)'
    return 1
  fi
}

start() {
  need "$name" pg_isready "install Debian's postgresql (apt-get install postgresql)"
  if ! ready; then
    local found
    found="$(cluster)" ||
      fail "$name" "no Debian PostgreSQL cluster found (pg_lsclusters); install postgresql or point SLUICE_POSTGRES_PORT at a running server"
    [ -n "$found" ] || fail "$name" "no PostgreSQL cluster is configured for port $port (see pg_lsclusters)"
    # shellcheck disable=SC2086 # "$found" is "<version> <cluster>", two arguments on purpose
    pg_ctlcluster --skip-systemctl-redirect $found start ||
      fail "$name" "pg_ctlcluster $found start failed" "/var/log/postgresql/postgresql-${found// /-}.log"
    wait_for "$name" 30 "/var/log/postgresql/postgresql-${found// /-}.log" ready
    say "$name" started
  else
    say "$name" 'already running'
  fi
  ensure_database
}

stop() {
  ready || return 0
  local found
  found="$(cluster)" || fail "$name" 'no Debian PostgreSQL cluster to stop'
  # shellcheck disable=SC2086
  pg_ctlcluster --skip-systemctl-redirect $found stop -m fast
  say "$name" stopped
}

dispatch start check stop "$@"
