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
  "$BIN" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/healthz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

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
  wrk "${args[@]}" "$BASE$path" > "$WORK/$name.txt"
  local rps p50 p90 p99 errors
  rps=$(awk '/Requests\/sec/{print $2}' "$WORK/$name.txt")
  p50=$(awk '$1=="50%"{print $2}' "$WORK/$name.txt")
  p90=$(awk '$1=="90%"{print $2}' "$WORK/$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "$WORK/$name.txt")
  errors=$(awk '/Non-2xx or 3xx responses/{print $5}' "$WORK/$name.txt")
  printf '%s %s %s %s %s %s\n' "$name" "$rps" "$p50" "$p90" "$p99" "${errors:-0}" >> "$WORK/results"
  grep -q "Socket errors" "$WORK/$name.txt" && grep "Socket errors" "$WORK/$name.txt" | sed "s/^/  $name: /" || true
}

echo "running: ${DURATION}s per measurement, $CONNECTIONS connections, $THREADS wrk threads"
run bare /dev/bare
run catalogue /modules
run lesson "/modules/$LESSON_MODULE/lecons/1"

# Quiz submissions: 64 learners (one per connection on average) each open attempts on
# the benchmark module, then every attempt is submitted exactly once by its owner.
BENCH_USERS=64
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
  c="reperes_session=$(awk '$6=="reperes_session"{print $7}' "$WORK/jar-$i")"
  echo "$c" >> "$WORK/cookies"
  for n in 1 2; do curl -sf -o /dev/null -H "Cookie: $c" "$BASE/modules/bench-quiz/lecons/$n"; done
done
ATTEMPTS_WANTED=$((DURATION * 4000))
python3 bench/prepare_attempts.py "$BASE" "$WORK/cookies" "$ATTEMPTS_WANTED" "$WORK/attempts"
echo "opened $(wc -l < "$WORK/attempts") attempts for the submission run"
ATTEMPTS="$WORK/attempts" COOKIES="$WORK/cookies" WRK_THREADS="$THREADS" \
  run submission /api/v1/attempts bench/submit_attempts.lua
REUSED=$(awk '$1=="reused"{print $2}' "$WORK/submission.txt" | head -n1)

BARE=$(awk '$1=="bare"{print $2}' "$WORK/results")
echo
printf '%-12s %12s %10s %10s %10s %10s %8s\n' route "req/s" p50 p90 p99 non-2xx "% bare"
while read -r name rps p50 p90 p99 errors; do
  pct=$(awk -v a="$rps" -v b="$BARE" 'BEGIN{printf "%.1f", 100*a/b}')
  printf '%-12s %12s %10s %10s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p90" "$p99" "$errors" "$pct"
done < "$WORK/results"
echo "submissions that found their attempt already submitted: ${REUSED:-0} (should be 0)"
echo "machine: $(nproc) cores; wrk and the server share them"
