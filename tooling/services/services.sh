#!/usr/bin/env bash
# Starts, checks or stops the services Sluice's integration tests and multi-instance setups use,
# on a machine without Docker (with Docker, see docker-compose.yml at the repository root).
# Usage: tooling/services/services.sh start|check|stop|restart [redis] [postgres] [kafka] [pubsub]
# With no names it acts on all four. Services start one after another; the first that cannot
# start stops the script with its reason.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
all=(redis postgres kafka pubsub)

command="${1:-}"
case "$command" in
  start | check | stop | restart) shift ;;
  *)
    printf 'usage: %s start|check|stop|restart [%s]...\n' "$(basename "$0")" "${all[*]}" >&2
    exit 2
    ;;
esac
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=("${all[@]}")

status=0
for name in "${names[@]}"; do
  script="$here/$name.sh"
  if [ ! -f "$script" ]; then
    printf '[services] unknown service "%s"; known: %s\n' "$name" "${all[*]}" >&2
    exit 2
  fi
  if [ "$command" = check ]; then
    bash "$script" check || status=1
  else
    bash "$script" "$command"
  fi
done
exit "$status"
