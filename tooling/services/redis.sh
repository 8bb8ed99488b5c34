#!/usr/bin/env bash
# Redis for Sluice's tests and local runs: 127.0.0.1:${SLUICE_REDIS_PORT:-6379}, nothing kept on disk.
# Usage: tooling/services/redis.sh start|check|stop|restart
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="${SLUICE_REDIS_PORT:-6379}"
name="redis:$port"
log="$RUN_DIR/redis-$port.log"

ping() { [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; }

check() {
  if ping; then
    say "$name" ready
  else
    say "$name" 'not running (start it with tooling/services/redis.sh start)'
    return 1
  fi
}

start() {
  need "$name" redis-cli "install Debian's redis-tools and redis-server (apt-get install redis-server)"
  if ping; then
    say "$name" 'already running'
    return 0
  fi
  need "$name" redis-server "install Debian's redis-server (apt-get install redis-server)"
  if port_open "$port"; then fail "$name" "port $port is taken by something that does not answer PING"; fi
  mkdir -p "$RUN_DIR/redis-$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$RUN_DIR/redis-$port" --logfile "$log" --pidfile "$RUN_DIR/redis-$port.pid" ||
    fail "$name" 'redis-server exited at once' "$log"
  wait_for "$name" 15 "$log" ping
  say "$name" started
}

stop() {
  if ping; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 10))
    while ping; do
      [ "$SECONDS" -lt "$deadline" ] || fail "$name" 'did not stop within 10s'
      sleep 0.2
    done
    say "$name" stopped
  fi
  rm -f "$RUN_DIR/redis-$port.pid"
}

dispatch start check stop "$@"
