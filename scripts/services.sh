#!/usr/bin/env bash
# Starts (up) or stops (down) the servers the integration suites use: PostgreSQL and Redis
# (normally already running on this kind of machine) and a single-node Kafka broker.
# Redis gets AOF on (Tally refuses a Redis without it unless REDIS_ALLOW_NO_PERSISTENCE=true):
# a Redis started here has it; one already running gets `CONFIG SET appendonly yes`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "services: $*" >&2; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

case "${1:-up}" in
  up)
    if ! pg_up; then
      say "starting PostgreSQL"
      if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
      fi
      for _ in $(seq 1 30); do pg_up && break; sleep 1; done
      pg_up || say "PostgreSQL is not reachable on 127.0.0.1:5432"
    fi
    if ! redis_up; then
      say "starting Redis"
      if command -v redis-server >/dev/null; then
        mkdir -p /var/log/redis 2>/dev/null || true
        mkdir -p "${TMPDIR:-/tmp}/tally-redis"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly yes \
          --appendfsync everysec --dir "${TMPDIR:-/tmp}/tally-redis" \
          --logfile "${TMPDIR:-/tmp}/tally-redis.log" || true
      fi
      for _ in $(seq 1 30); do redis_up && break; sleep 1; done
      redis_up || say "Redis is not reachable on 127.0.0.1:6379"
    fi
    if redis_up && redis-cli -h 127.0.0.1 -p 6379 CONFIG GET appendonly | grep -qx no; then
      say "turning on AOF in the Redis on 6379 (CONFIG SET appendonly yes)"
      redis-cli -h 127.0.0.1 -p 6379 CONFIG SET appendonly yes >/dev/null \
        || say "could not turn on AOF: the Redis suites need REDIS_ALLOW_NO_PERSISTENCE=true"
    fi
    # The jars even when a broker already answers: the Kafka fault tests start one of their own.
    bash "$root/scripts/kafka/kafka.sh" fetch
    bash "$root/scripts/kafka/kafka.sh" start
    ;;
  down)
    bash "$root/scripts/kafka/kafka.sh" stop || true
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
