#!/bin/sh
# Entry point of the agentmesh image: the first argument picks what runs, and node
# replaces this shell (exec) so that it receives SIGTERM directly and drains gracefully.
#
#   docker-entrypoint.sh chat-api|chatd-worker|aibridge-recorder|telemetry-collector|dbpurge
#   docker-entrypoint.sh migrate      apply pending migrations (advisory lock), then exit 0
#   docker-entrypoint.sh node ...     any node command, for debugging
set -eu

cd "$(dirname "$0")"

usage() {
  echo "usage: docker-entrypoint.sh <chat-api|chatd-worker|aibridge-recorder|telemetry-collector|dbpurge|migrate> [args...]" >&2
}

command="${1:-}"
case "$command" in
  chat-api | chatd-worker | aibridge-recorder | telemetry-collector | dbpurge)
    shift
    exec node "dist/apps/$command/src/main.js" "$@"
    ;;
  migrate)
    shift
    exec node dist/migrations/cli.js migrate "$@"
    ;;
  node)
    exec "$@"
    ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  "")
    echo "docker-entrypoint.sh: no command given" >&2
    usage
    exit 64
    ;;
  *)
    echo "docker-entrypoint.sh: unknown command \"$command\"" >&2
    usage
    exit 64
    ;;
esac
