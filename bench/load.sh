#!/usr/bin/env bash
# Load ramp of Repères with simulated people (goose scenario in bench/load/, see
# bench/load/README.md): learners reading lessons and passing quizzes, people checking their
# progress and verifying certificates, HR staff listing people and exporting certificates,
# with think times. For each step of simultaneous virtual users: requests per second,
# p50/p95/p99, errors, the service's memory, open connections and CPU. The ramp stops after
# the first step whose p95 crosses P95_LIMIT_MS or that has errors. Prints a markdown table.
#
#   bench/load.sh                              ramp on SQLite
#   DB=postgres bench/load.sh                  ramp on PostgreSQL (local server; a database
#                                              is created for the run and dropped after)
#   DB=postgres INSTANCES=2 bench/load.sh      two instances on one database, each behind
#                                              its own goose process with half the users
#   THINK=0 STEPS="50 100 200" bench/load.sh   stress: no think time at all
#   MODE=idle bench/load.sh                    10,000 idle connections: memory per connection
#                                              and latency while they are open
#
# Settings (environment):
#   STEPS          virtual users per step ("100 500 1000 2000 5000 10000")
#   STEP_SECS      measured seconds per step, counted once every user has started (120)
#   RAMP_SECS      seconds over which a step's users start (60); HATCH_RATE overrides it
#                  (users started per second)
#   P95_LIMIT_MS   stop after the step whose p95 is above this (100)
#   MAX_ERRORS     stop after the step with more failed requests than this (0)
#   RESET_METRICS  1 (default): a step's figures cover STEP_SECS only, not its ramp-up (the
#                  sign-ins); 0: they cover the ramp-up too (goose --no-reset-metrics)
#   COOLDOWN_SECS  pause between steps (10)
#   ACCOUNTS       auto (default): one learner account per virtual user of the largest step
#                  (and one HR account per 100), created in the database after the demo
#                  seed; demo: only the demo people, shared by every virtual user (their
#                  attempts and certificates pile up, so their progress page grows during
#                  the run); or a number of learner accounts
#   THINK, THINK_MIN_SECS, THINK_MAX_SECS, NAV_MIN_MS, NAV_MAX_MS, MODULE, RECALL, WEIGHTS,
#   HR_EXPORT_SHARE    read by the scenario (bench/load/README.md)
#   SERVER_CPUS, LOAD_CPUS   CPU lists for taskset, e.g. SERVER_CPUS=0 LOAD_CPUS=1: the load
#                  generator and the service share the machine's cores otherwise
#   MAX_IN_FLIGHT, DB_MAX_CONNECTIONS, KEEP_ALIVE   the service's REPERES_MAX_IN_FLIGHT,
#                  REPERES_DATABASE_MAX_CONNECTIONS and ROCKET_KEEP_ALIVE (unset: its
#                  defaults, 128, 16 and 5 s)
#   PG_ADMIN_URL   PostgreSQL admin URL (postgres://postgres@127.0.0.1:5432/postgres)
#   LOAD_PORT      port of the (first) instance (8087; a second instance takes the next)
#   RESULTS_DIR    where reports go ($HOME/.cache/reperes-load-results/<date-time>)
#   SKIP_BUILD=1   use the binaries built by a previous run
#   Idle mode: IDLE_CONNECTIONS (10000), IDLE_KIND (silent, keepalive or both), IDLE_HOLD_SECS
#                  (30), IDLE_SAMPLES (200); KEEP_ALIVE defaults to 600 s there so that the
#                  keep-alive connections stay open while they are measured.
#
# Every address is on this machine: the service listens on 127.0.0.1 and the scenario
# refuses any other host. Each virtual user sends its own client address in X-Real-IP (from
# 198.18.0.0/15, set aside for benchmarks; never contacted), which the service trusts here
# (ROCKET_IP_HEADER) as it does behind nginx in production, so its per-address rate limits
# (300 development sign-ins and 60 verifications a minute) apply per virtual user.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

MODE="${MODE:-ramp}"
DB="${DB:-sqlite}"
INSTANCES="${INSTANCES:-1}"
STEPS="${STEPS:-100 500 1000 2000 5000 10000}"
STEP_SECS="${STEP_SECS:-120}"
RAMP_SECS="${RAMP_SECS:-60}"
P95_LIMIT_MS="${P95_LIMIT_MS:-100}"
MAX_ERRORS="${MAX_ERRORS:-0}"
RESET_METRICS="${RESET_METRICS:-1}"
COOLDOWN_SECS="${COOLDOWN_SECS:-10}"
ACCOUNTS="${ACCOUNTS:-auto}"
PORT="${LOAD_PORT:-8087}"
PG_ADMIN="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DOMAIN="load.reperes.test"
OUT="${RESULTS_DIR:-$HOME/.cache/reperes-load-results/$(date +%Y%m%d-%H%M%S)}"
SERVER_CPUS="${SERVER_CPUS:-}"
LOAD_CPUS="${LOAD_CPUS:-}"
[ "$MODE" = idle ] && KEEP_ALIVE="${KEEP_ALIVE:-600}"
KEEP_ALIVE="${KEEP_ALIVE:-}"
MAX_IN_FLIGHT="${MAX_IN_FLIGHT:-}"
DB_MAX_CONNECTIONS="${DB_MAX_CONNECTIONS:-}"

case "$MODE" in ramp | idle) ;; *) echo "MODE must be ramp or idle" >&2; exit 2 ;; esac
case "$DB" in sqlite | postgres) ;; *) echo "DB must be sqlite or postgres" >&2; exit 2 ;; esac
case "$INSTANCES" in 1) ;; 2) [ "$DB" = postgres ] || { echo "INSTANCES=2 needs DB=postgres" >&2; exit 2; } ;;
  *) echo "INSTANCES must be 1 or 2" >&2; exit 2 ;; esac
for u in $STEPS; do
  case "$u" in '' | *[!0-9]*) echo "STEPS must be numbers of users: $STEPS" >&2; exit 2 ;; esac
done

need() { # command package
  command -v "$1" >/dev/null || { echo "installing $2 (apt)"; apt-get install -y -qq "$2" >/dev/null; }
}
need curl curl
need ss iproute2
need python3 python3
[ -n "$SERVER_CPUS$LOAD_CPUS" ] && need taskset util-linux
if [ "$DB" = sqlite ]; then need sqlite3 sqlite3; else need psql postgresql-client; fi

# Every connection is a file descriptor in the service and in the load generator.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)"

# ---- builds ---------------------------------------------------------------------------
# The service with the development sign-in, in a target folder of its own (as bench/run.sh):
# that binary must never sit where a deployment picks up `target/release/reperes`.
BENCH_TARGET="${BENCH_TARGET_DIR:-$HOME/.cache/reperes-bench-target}"
LOAD_TARGET="${LOAD_TARGET_DIR:-$HOME/.cache/reperes-load-target}"
BIN="$BENCH_TARGET/release/reperes"
GOOSE="$LOAD_TARGET/release/reperes-load"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "building the service (release, with the development sign-in) into $BENCH_TARGET"
  CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --release --locked --features dev-login --quiet
  if [ "$MODE" = ramp ]; then
    echo "building the load scenario (bench/load, release) into $LOAD_TARGET"
    CARGO_TARGET_DIR="$LOAD_TARGET" cargo build --release --quiet --manifest-path bench/load/Cargo.toml
  fi
fi
[ -x "$BIN" ] || { echo "missing $BIN (run without SKIP_BUILD=1)" >&2; exit 1; }
[ "$MODE" = idle ] || [ -x "$GOOSE" ] || { echo "missing $GOOSE (run without SKIP_BUILD=1)" >&2; exit 1; }

mkdir -p "$OUT"
WORK="$(mktemp -d)"
SERVER_PIDS=()
PORTS=()
PG_DB=""
MONITOR_PID=""
cleanup() {
  if [ -n "$MONITOR_PID" ]; then kill "$MONITOR_PID" 2>/dev/null || true; fi
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the service --------------------------------------------------------------------------
# The committed catalogue plus the benchmark module (unlimited attempts), as bench/run.sh.
git archive HEAD courses | tar -x -C "$WORK"
cp -r bench/courses/bench-quiz "$WORK/courses/"
mkdir -p "$WORK/exports" "$WORK/mails"

if [ "$DB" = sqlite ]; then
  DB_URL="sqlite://$WORK/load.db"
else
  PG_DB="reperes_load_$$"
  psql "$PG_ADMIN" -q -c "CREATE DATABASE $PG_DB" >/dev/null
  DB_URL="${PG_ADMIN%/*}/$PG_DB"
fi

# One secret key for every instance: a session cookie set by one is read by the other.
SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
CERT_KEY="$(head -c 32 /dev/urandom | base64)"

start_server() { # port scheduler(true|false) log
  local port="$1" scheduler="$2" log="$3"
  local pin=()
  [ -n "$SERVER_CPUS" ] && pin=(taskset -c "$SERVER_CPUS")
  local extra=()
  [ -n "$KEEP_ALIVE" ] && extra+=("ROCKET_KEEP_ALIVE=$KEEP_ALIVE")
  [ -n "$MAX_IN_FLIGHT" ] && extra+=("REPERES_MAX_IN_FLIGHT=$MAX_IN_FLIGHT")
  [ -n "$DB_MAX_CONNECTIONS" ] && extra+=("REPERES_DATABASE_MAX_CONNECTIONS=$DB_MAX_CONNECTIONS")
  # Plain HTTP on 127.0.0.1: cookies without `Secure` (REPERES_COOKIE_SECURE=false), as
  # the load generator's cookie jar would not send `Secure` ones over http. X-Real-IP is
  # trusted, as behind deploy/nginx.conf. Mails go to a folder; logs at warn.
  env ROCKET_ADDRESS=127.0.0.1 ROCKET_PORT="$port" ROCKET_LOG_LEVEL=off \
    ROCKET_IP_HEADER=X-Real-IP ROCKET_SECRET_KEY="$SECRET_KEY" \
    REPERES_CERTIFICATE_KEY="$CERT_KEY" REPERES_DATABASE_URL="$DB_URL" \
    REPERES_COURSES_DIR="$WORK/courses" REPERES_DEMO=true REPERES_COOKIE_SECURE=false \
    REPERES_PUBLIC_URL="http://127.0.0.1:$port" REPERES_EXPORT_FOLDER="$WORK/exports" \
    REPERES_MAIL_TRANSPORT=folder REPERES_MAIL_FOLDER="$WORK/mails" \
    REPERES_SCHEDULER="$scheduler" REPERES_LOG="${SERVER_LOG:-warn}" \
    "${extra[@]}" "${pin[@]}" "$BIN" > "$log" 2>&1 &
  SERVER_PIDS+=("$!")
  PORTS+=("$port")
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.2
  done
  echo "the service on port $port did not start:" >&2
  cat "$log" >&2
  return 1
}

# Learner and HR accounts for the load (after the demo seed, which runs only on an empty
# database). Their `source` defaults to 'demo', which the development sign-in accepts.
create_accounts() { # learners hr
  local learners="$1" hr="$2"
  [ "$learners" -gt 0 ] || return 0
  echo "creating $learners learner and $hr HR accounts (@$DOMAIN)"
  local audiences="CASE i % 3 WHEN 0 THEN 'accueil tous' WHEN 1 THEN 'social tous' ELSE 'partenaire' END"
  if [ "$DB" = sqlite ]; then
    # Recursive CTEs count 0..n-1 (each needs n > 0: HR is at least 1 when learners are).
    sqlite3 "$WORK/load.db" <<SQL
.timeout 30000
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $learners)
INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
SELECT randomblob(16), 'load-learner-' || i || '@$DOMAIN', 'Apprenant de charge ' || i, 'learner',
       $audiences, 1, '2026-01-01T00:00:00+00:00' FROM seq;
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $hr)
INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
SELECT randomblob(16), 'load-hr-' || i || '@$DOMAIN', 'RH de charge ' || i, 'hr',
       'rh tous', 1, '2026-01-01T00:00:00+00:00' FROM seq WHERE $hr > 0;
COMMIT;
SQL
  else
    psql "$DB_URL" -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
SELECT gen_random_uuid(), 'load-learner-' || i || '@$DOMAIN', 'Apprenant de charge ' || i, 'learner',
       $audiences, TRUE, now() FROM generate_series(0, $learners - 1) AS i;
INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
SELECT gen_random_uuid(), 'load-hr-' || i || '@$DOMAIN', 'RH de charge ' || i, 'hr',
       'rh tous', TRUE, now() FROM generate_series(0, $hr - 1) AS i;
COMMIT;
SQL
  fi
}

echo "results: $OUT"
echo "starting the service ($DB, $INSTANCES instance(s))"
start_server "$PORT" true "$OUT/server-1.log"
if [ "$INSTANCES" = 2 ]; then
  # The second instance serves requests only: the first one runs the scheduled jobs.
  start_server "$((PORT + 1))" false "$OUT/server-2.log"
fi

# ---- idle connections -------------------------------------------------------------------
if [ "$MODE" = idle ]; then
  pin=()
  [ -n "$LOAD_CPUS" ] && pin=(taskset -c "$LOAD_CPUS")
  echo "idle connections against port $PORT (ROCKET_KEEP_ALIVE=$KEEP_ALIVE s; max_in_flight ${MAX_IN_FLIGHT:-128})"
  "${pin[@]}" python3 bench/load/idle_connections.py --port "$PORT" --pid "${SERVER_PIDS[0]}" \
    --connections "${IDLE_CONNECTIONS:-10000}" --kind "${IDLE_KIND:-both}" \
    --hold "${IDLE_HOLD_SECS:-30}" --samples "${IDLE_SAMPLES:-200}" --json "$OUT/idle.json" \
    | tee "$OUT/idle.md"
  echo
  echo "machine: $(nproc) cores; the connections' client and the service share them"
  echo "report: $OUT/idle.md"
  exit 0
fi

# ---- ramp -------------------------------------------------------------------------------
MAX_USERS=0
for u in $STEPS; do [ "$u" -gt "$MAX_USERS" ] && MAX_USERS="$u"; done
case "$ACCOUNTS" in
  auto) LEARNERS_N="$MAX_USERS" ;;
  demo) LEARNERS_N=0 ;;
  '' | *[!0-9]*) echo "ACCOUNTS must be auto, demo or a number" >&2; exit 2 ;;
  *) LEARNERS_N="$ACCOUNTS" ;;
esac
HR_N=0
[ "$LEARNERS_N" -gt 0 ] && HR_N=$(((LEARNERS_N + 99) / 100))
create_accounts "$LEARNERS_N" "$HR_N"

# One line a second: time, RSS (kB) of each instance, established connections to them.
monitor() { # file
  while :; do
    local line rss conns=0 n
    line="$(date +%s)"
    for pid in "${SERVER_PIDS[@]}"; do
      rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
      line+=" ${rss:-0}"
    done
    for port in "${PORTS[@]}"; do
      n="$( (ss -Htn state established "( sport = :$port )" 2>/dev/null || true) | wc -l)"
      conns=$((conns + n))
    done
    echo "$line $conns" >> "$1"
    sleep 1
  done
}

cpu_ticks() { # total user+system ticks of the instances
  local total=0 t pid
  for pid in "${SERVER_PIDS[@]}"; do
    t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}

hwm_kb() { # sum of the instances' peak resident memory
  local total=0 h pid
  for pid in "${SERVER_PIDS[@]}"; do
    h="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    total=$((total + ${h:-0}))
  done
  echo "$total"
}

TICKS="$(getconf CLK_TCK)"
: > "$OUT/steps.tsv"
goose_pin=()
[ -n "$LOAD_CPUS" ] && goose_pin=(taskset -c "$LOAD_CPUS")
reset_flag=()
[ "$RESET_METRICS" = 1 ] || reset_flag=(--no-reset-metrics)
echo "steps: $STEPS virtual users; ${STEP_SECS}s each; stop past p95 ${P95_LIMIT_MS} ms or ${MAX_ERRORS} error(s)"
echo "scenario: THINK=${THINK:-on} ${THINK_MIN_SECS:-20}-${THINK_MAX_SECS:-60}s, MODULE=${MODULE:-bench-quiz}, ACCOUNTS=$ACCOUNTS"

STOPPED=""
for users in $STEPS; do
  step_dir="$OUT/step-$users"
  mkdir -p "$step_dir"
  hatch="${HATCH_RATE:-$(((users + RAMP_SECS - 1) / RAMP_SECS))}"
  echo
  echo "== $users virtual users (hatch rate $hatch/s, then ${STEP_SECS}s)"

  ticks_before="$(cpu_ticks)"
  started_at="$(date +%s.%N)"
  monitor "$step_dir/monitor.txt" &
  MONITOR_PID=$!

  goose_pids=()
  summaries=()
  offset=0
  for i in $(seq 1 "$INSTANCES"); do
    # The load is split evenly between the instances, one goose process each; the second
    # uses other accounts and client addresses (INDEX_OFFSET).
    share=$((users / INSTANCES))
    [ "$i" = 1 ] && share=$((users - (INSTANCES - 1) * (users / INSTANCES)))
    share_hatch=$(((hatch + INSTANCES - 1) / INSTANCES))
    port="${PORTS[$((i - 1))]}"
    summary="$step_dir/summary-$i.json"
    summaries+=("$summary")
    env SUMMARY_FILE="$summary" INDEX_OFFSET="$offset" \
      LEARNER_ACCOUNTS="$LEARNERS_N" HR_ACCOUNTS="$HR_N" ACCOUNT_DOMAIN="$DOMAIN" \
      CLIENT_IP_HEADER=X-Real-IP \
      "${goose_pin[@]}" "$GOOSE" --host "http://127.0.0.1:$port" \
      --users "$share" --hatch-rate "$share_hatch" --run-time "${STEP_SECS}s" \
      --report-file "$step_dir/report-$i.html" --no-telnet --no-websocket -q \
      "${reset_flag[@]}" > "$step_dir/goose-$i.log" 2>&1 &
    goose_pids+=("$!")
    offset=$((offset + share))
  done
  status=0
  for pid in "${goose_pids[@]}"; do wait "$pid" || status=$?; done
  kill "$MONITOR_PID" 2>/dev/null || true
  wait "$MONITOR_PID" 2>/dev/null || true
  MONITOR_PID=""
  elapsed="$(awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')"
  ticks_after="$(cpu_ticks)"
  cpu_secs="$(awk -v a="$ticks_before" -v b="$ticks_after" -v t="$TICKS" 'BEGIN {print (b - a) / t}')"
  if [ "$status" != 0 ]; then
    echo "goose exited with status $status; see $step_dir/goose-*.log" >&2
    tail -n 20 "$step_dir/goose-1.log" >&2 || true
  fi

  row="$(python3 bench/load/steps.py step --users "$users" --summaries "${summaries[@]}" \
    --monitor "$step_dir/monitor.txt" --hwm-kb "$(hwm_kb)" --cpu-secs "$cpu_secs" --elapsed "$elapsed")"
  echo "$row" >> "$OUT/steps.tsv"
  IFS=$'\t' read -r _ started rps p50 p95 p99 requests failures rss hwm conns cpu top <<< "$row"
  echo "   $started started, $rps req/s, p50 $p50 ms, p95 $p95 ms, p99 $p99 ms, $failures error(s) of $requests, RSS max $rss MB, $conns connections, server CPU $cpu %"
  [ -n "$top" ] && echo "   most frequent error: $top"

  if [ "$status" != 0 ] || [ "$requests" = 0 ]; then
    STOPPED="goose failed at $users users"
    break
  fi
  if [ "$p95" -gt "$P95_LIMIT_MS" ]; then
    STOPPED="stopped after $users users: p95 $p95 ms > $P95_LIMIT_MS ms"
    break
  fi
  if [ "$failures" -gt "$MAX_ERRORS" ]; then
    STOPPED="stopped after $users users: $failures failed request(s)"
    break
  fi
  sleep "$COOLDOWN_SECS"
done

{
  echo "Repères load ramp — $(date -u +%Y-%m-%dT%H:%MZ), $DB, $INSTANCES instance(s), $(nproc) cores" \
    "(service CPUs: ${SERVER_CPUS:-all}, load CPUs: ${LOAD_CPUS:-all})"
  echo "scenario: THINK=${THINK:-on} (${THINK_MIN_SECS:-20}-${THINK_MAX_SECS:-60} s), MODULE=${MODULE:-bench-quiz}," \
    "RECALL=${RECALL:-0.8}, WEIGHTS=${WEIGHTS:-89,10,1}, ACCOUNTS=$ACCOUNTS; ${STEP_SECS}s per step"
  echo
  python3 bench/load/steps.py table "$OUT/steps.tsv"
  echo
  [ -n "$STOPPED" ] && echo "$STOPPED" || echo "every step stayed under p95 ${P95_LIMIT_MS} ms without error"
  echo "per-route figures: $OUT/step-*/summary-*.json and report-*.html"
} | tee "$OUT/results.md"
