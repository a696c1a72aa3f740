#!/usr/bin/env bash
# Load benchmark of Repères on a release build with SQLite, 64 concurrent connections:
# a bare Rocket route (the framework's ceiling), the catalogue page, a lesson page and quiz
# submissions, all against one server in one run. Prints a table; see bench/README.md.
#
#   bench/run.sh [seconds-per-run]        (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-15}"
CONNECTIONS=64
THREADS=2
PORT="${BENCH_PORT:-8077}"
BASE="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"

for tool in wrk sqlite3; do
  command -v "$tool" >/dev/null || { echo "installing $tool (apt)"; apt-get install -y -qq "$tool" >/dev/null; }
done

# Built into a target folder of its own, so that the binary with the development sign-in
# never sits where a deployment would pick up `target/release/reperes`.
BENCH_TARGET="${BENCH_TARGET_DIR:-$HOME/.cache/reperes-bench-target}"
echo "building the benchmark binary (release, with the development sign-in) into $BENCH_TARGET"
CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --release --locked --features dev-login --quiet
BIN="$BENCH_TARGET/release/reperes"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# The committed catalogue plus a module with unlimited attempts for the submission run.
git archive HEAD courses | tar -x -C "$WORK"
cp -r bench/courses/bench-quiz "$WORK/courses/"

ROCKET_PORT="$PORT" ROCKET_LOG_LEVEL=off ROCKET_SECRET_KEY="$(head -c 32 /dev/urandom | base64)" \
REPERES_CERTIFICATE_KEY="$(head -c 32 /dev/urandom | base64)" \
REPERES_DATABASE_URL="sqlite://$WORK/bench.db" REPERES_COURSES_DIR="$WORK/courses" REPERES_DEMO=true \
REPERES_COOKIE_SECURE=false \
  "$BIN" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/healthz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

# Plain HTTP on 127.0.0.1: cookies without `Secure` and without the `__Host-` prefix
# (REPERES_COOKIE_SECURE=false above), so that curl keeps and sends them.
# Sign in as a reception agent and read the lessons of the benchmark module.
# Forms carry a CSRF token: read it from the sign-in page, with its cookie.
csrf() { # jar
  curl -sf -c "$1" -b "$1" "$BASE/connexion" | grep -o 'name="csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//;s/"$//'
}
curl -sf -c "$WORK/jar" -b "$WORK/jar" -o /dev/null -d "csrf=$(csrf "$WORK/jar")&email=camille.martin@demo.reperes.test" "$BASE/auth/dev"
# Every cookie a browser would send back (session and CSRF token).
COOKIE="$(awk '$6 ~ /^reperes_/ {printf "%s%s=%s", sep, $6, $7; sep="; "}' "$WORK/jar")"
for n in 1 2; do curl -sf -o /dev/null -H "Cookie: $COOKIE" "$BASE/modules/bench-quiz/lecons/$n"; done
# A module offered to everyone, so that the reception agent signed in can read it.
LESSON_MODULE="${BENCH_LESSON_MODULE:-comprendre-les-discriminations}"

run() { # name path [script]
  local name="$1" path="$2" script="${3:-}"
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ -z "$script" ] && args+=(-H "Cookie: $COOKIE")
  [ -n "$script" ] && args+=(-s "$script")
  # The server's CPU time (user + system, in clock ticks) around the run.
  local cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  wrk "${args[@]}" "$BASE$path" > "$WORK/$name.txt"
  cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  local rps p50 p90 p99 errors requests cpu_us
  rps=$(awk '/Requests\/sec/{print $2}' "$WORK/$name.txt")
  p50=$(awk '$1=="50%"{print $2}' "$WORK/$name.txt")
  p90=$(awk '$1=="90%"{print $2}' "$WORK/$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "$WORK/$name.txt")
  errors=$(awk '/Non-2xx or 3xx responses/{print $5}' "$WORK/$name.txt")
  requests=$(awk '/requests in/{print $1}' "$WORK/$name.txt")
  cpu_us=$(awk -v t="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN{printf "%.0f", t / hz * 1e6 / n}')
  printf '%s %s %s %s %s %s %s\n' "$name" "$rps" "$p50" "$p90" "$p99" "${errors:-0}" "$cpu_us" >> "$WORK/results"
  grep -q "Socket errors" "$WORK/$name.txt" && grep "Socket errors" "$WORK/$name.txt" | sed "s/^/  $name: /" || true
}

echo "running: ${DURATION}s per measurement, $CONNECTIONS connections, $THREADS wrk threads"
run bare /dev/bare
run catalogue /modules
run lesson "/modules/$LESSON_MODULE/lecons/1"

# Quiz submissions: 64 learners, one per connection (and per wrk thread), each opening an
# attempt on the benchmark module and submitting it, again and again (bench/attempt_cycle.lua).
BENCH_USERS=$CONNECTIONS
{
  echo "BEGIN;"
  for i in $(seq 1 $BENCH_USERS); do
    echo "INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
          VALUES (randomblob(16), 'bench-$i@bench.test', 'Bench $i', 'learner', 'tous', 1, '2026-01-01T00:00:00+00:00');"
  done
  echo "COMMIT;"
} | sqlite3 "$WORK/bench.db"
: > "$WORK/cookies"
for i in $(seq 1 $BENCH_USERS); do
  curl -sf -c "$WORK/jar-$i" -b "$WORK/jar-$i" -o /dev/null -d "csrf=$(csrf "$WORK/jar-$i")&email=bench-$i@bench.test" "$BASE/auth/dev"
  c="$(awk '$6 ~ /^reperes_/ {printf "%s%s=%s", sep, $6, $7; sep="; "}' "$WORK/jar-$i")"
  for n in 1 2; do curl -sf -o /dev/null -H "Cookie: $c" "$BASE/modules/bench-quiz/lecons/$n"; done
  # Writes repeat the browser's CSRF token in X-CSRF-Token: read it from a page's form.
  t="$(curl -sf -H "Cookie: $c" "$BASE/modules" | grep -o 'name="csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//;s/"$//')"
  [ -n "$t" ] || { echo "no CSRF token for bench-$i" >&2; exit 1; }
  printf '%s\t%s\n' "$t" "$c" >> "$WORK/cookies"
done
COOKIES="$WORK/cookies" THREADS="$CONNECTIONS" run attempts /api/v1/modules/bench-quiz/attempts bench/attempt_cycle.lua
SUBMITTED=$(awk '$1=="submitted"{print $2}' "$WORK/attempts.txt" | head -n1)
FAILED=$(awk '$1=="failed"{print $2}' "$WORK/attempts.txt" | head -n1)

BARE=$(awk '$1=="bare"{print $2}' "$WORK/results")
echo
printf '%-12s %12s %10s %10s %10s %10s %8s %14s\n' route "req/s" p50 p90 p99 non-2xx "% bare" "server µs/req"
while read -r name rps p50 p90 p99 errors cpu_us; do
  pct=$(awk -v a="$rps" -v b="$BARE" 'BEGIN{printf "%.1f", 100*a/b}')
  printf '%-12s %12s %10s %10s %10s %10s %8s %14s\n' "$name" "$rps" "$p50" "$p90" "$p99" "$errors" "$pct" "$cpu_us"
done < "$WORK/results"
echo "attempts: each learner opens an attempt, then submits it (two requests per submission):" \
  "$(awk -v n="${SUBMITTED:-0}" -v d="$DURATION" 'BEGIN{printf "%.0f", n/d}') submissions/s," \
  "${FAILED:-0} failed (should be 0)"
echo "machine: $(nproc) cores; wrk and the server share them"
