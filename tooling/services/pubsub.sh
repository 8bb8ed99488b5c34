#!/usr/bin/env bash
# The Google Cloud Pub/Sub emulator on 127.0.0.1:${SLUICE_PUBSUB_PORT:-8085} (clients find it through
# PUBSUB_EMULATOR_HOST=127.0.0.1:8085). It keeps its data under .run/ only while it runs.
# Usage: tooling/services/pubsub.sh start|check|stop|restart
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="${SLUICE_PUBSUB_PORT:-8085}"
name="pubsub-emulator:$port"
log="$RUN_DIR/pubsub-$port.log"
pidfile="$RUN_DIR/pubsub-$port.pid"

# The emulator answers "Ok" on / once it serves.
ready() { [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null)" = Ok ]; }

launcher() {
  if command -v cloud-pubsub-emulator >/dev/null 2>&1; then
    command -v cloud-pubsub-emulator
    return
  fi
  local packaged
  packaged="$(dpkg -L google-cloud-cli-pubsub-emulator 2>/dev/null | grep '/bin/cloud-pubsub-emulator$' | head -n 1)"
  [ -n "$packaged" ] && [ -x "$packaged" ] && printf '%s\n' "$packaged"
}

check() {
  if ready; then
    say "$name" ready
  else
    say "$name" 'not running (start it with tooling/services/pubsub.sh start)'
    return 1
  fi
}

start() {
  need "$name" curl "install Debian's curl"
  if ready; then
    say "$name" 'already running'
    return 0
  fi
  local bin
  bin="$(launcher)" ||
    fail "$name" "the emulator is not installed: install Debian's google-cloud-cli-pubsub-emulator (it provides cloud-pubsub-emulator)"
  need "$name" java "the emulator needs a Java runtime (apt-get install default-jre-headless)"
  if port_open "$port"; then fail "$name" "port $port is taken by something that is not the emulator"; fi
  kill_pidfile "$pidfile"
  rm -rf "$RUN_DIR/pubsub-$port"
  mkdir -p "$RUN_DIR/pubsub-$port"
  # setsid: the emulator outlives this script and the shell that ran it.
  setsid "$bin" --host=127.0.0.1 --port="$port" --data-dir="$RUN_DIR/pubsub-$port" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for "$name" 60 "$log" ready
  say "$name" started
}

stop() {
  if [ -f "$pidfile" ]; then
    # The launcher is a shell script: stop its whole process group, the JVM included.
    local pid
    pid="$(cat "$pidfile")"
    kill -- "-$pid" 2>/dev/null || true
    kill_pidfile "$pidfile"
  fi
  if ready; then fail "$name" "something still serves port $port (not started by this script; stop it yourself)"; fi
  say "$name" stopped
}

dispatch start check stop "$@"
