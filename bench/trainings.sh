#!/usr/bin/env bash
# Shared trainings under contention, on a release build: 1,000 people race, 64 at a time,
# for the 100 seats of 10 sessions, then all of them cancel (each freed seat is offered to
# the next person waiting). On SQLite and on PostgreSQL: rate, p50 / p99 / max latency of
# each phase, and the check that no session is overbooked and that waiting positions have
# no gap. The enrolment goes through the same use case as the pages and the API
# (`trainings::flow::enrol`), with its outbox mail, without the HTTP layer.
#
#   bench/trainings.sh [PEOPLE] [CONCURRENCY]
#
# PostgreSQL: REPERES_BENCH_POSTGRES_URL (an admin URL; a database is created and dropped),
# the local server on 127.0.0.1:5432 (user postgres) by default.
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE="${1:-1000}"
CONCURRENCY="${2:-64}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"
cargo build --release --locked --quiet --example trainings_race
BIN="$CARGO_TARGET_DIR/release/examples/trainings_race"
WORK="$(mktemp -d)"
PG_ADMIN="${REPERES_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="reperes_bench_trainings_$$"
cleanup() {
  rm -rf "$WORK"
  psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $DB" > /dev/null 2>&1 || true
}
trap cleanup EXIT
export REPERES_COURSES_DIR="$PWD/courses" REPERES_TEMPLATES_DIR="$PWD/templates" REPERES_STATIC_DIR="$PWD/static"
export REPERES_MAIL_FOLDER="$WORK/mail" REPERES_EXPORT_FOLDER="$WORK/exports"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
/usr/bin/time -f "   wall %e s, peak memory %M kB" "$BIN" "sqlite://$WORK/bench.db" "$PEOPLE" "$CONCURRENCY"
psql "$PG_ADMIN" -q -c "CREATE DATABASE $DB" > /dev/null
/usr/bin/time -f "   wall %e s, peak memory %M kB" "$BIN" "${PG_ADMIN%/*}/$DB" "$PEOPLE" "$CONCURRENCY"
