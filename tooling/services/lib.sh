# Shared helpers of the service scripts. Sourced, never run: `. "$(dirname "$0")/lib.sh"`.
#
# Every service script takes one command — start | check | stop | restart — and is idempotent:
# `start` on a running service only checks it, `stop` on a stopped one does nothing. State lives
# under tooling/services/.run/ (pid files, logs, data) and downloads under tooling/services/.cache/.

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${SLUICE_SERVICES_RUN_DIR:-$SERVICES_DIR/.run}"
CACHE_DIR="${SLUICE_SERVICES_CACHE_DIR:-$SERVICES_DIR/.cache}"
mkdir -p "$RUN_DIR" "$CACHE_DIR"

# say <service> <message>: progress on stderr, so stdout stays free for values.
say() { printf '[services] %s: %s\n' "$1" "$2" >&2; }

# fail <service> <why> [log file]: the one way a script gives up, naming the service and the cause.
fail() {
  printf '[services] %s: cannot start: %s\n' "$1" "$2" >&2
  if [ -n "${3:-}" ] && [ -f "$3" ]; then
    printf '[services] %s: last lines of %s:\n' "$1" "$3" >&2
    tail -n 15 "$3" | sed 's/^/    /' >&2
  fi
  exit 1
}

# need <service> <command> <hint>: fails unless <command> is on PATH.
need() { command -v "$2" >/dev/null 2>&1 || fail "$1" "'$2' is not installed; $3"; }

# wait_for <service> <timeout seconds> <log file or ''> <command...>: polls the command until it
# succeeds, and fails with the log's tail when the timeout passes first.
wait_for() {
  local service="$1" timeout="$2" log="$3"
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$service" "not ready after ${timeout}s" "$log"
    fi
    sleep 0.3
  done
}

# port_open <port>: true when something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kill_pidfile <pid file> [seconds]: stops the process in the pid file (TERM, then KILL) and removes the file.
kill_pidfile() {
  local file="$1" grace="${2:-20}"
  [ -f "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        kill -9 "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -f "$file"
}

# dispatch <start> <check> <stop> "$@": runs the function named by the command-line command.
dispatch() {
  local start="$1" check="$2" stop="$3"
  shift 3
  case "${1:-}" in
    start) "$start" ;;
    check) "$check" ;;
    stop) "$stop" ;;
    restart) "$stop" && "$start" ;;
    *)
      printf 'usage: %s start|check|stop|restart\n' "$(basename "$0")" >&2
      exit 2
      ;;
  esac
}
