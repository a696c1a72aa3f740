#!/usr/bin/env bash
# The equality plan at scale, on a release build: PEOPLE people (default 100,000) imported
# from a generated HR export (sex, category, job family, management duty), COMPLETIONS
# quiz completions (default 1,000,000, with their attempts) spread over 2026, a certificate
# for the completions of two modules, 3 obligation cycles per person, 25 actions, the
# seeded indicators. Then, on SQLite and on PostgreSQL:
#   - the monthly snapshot job, six times (June to November: the dashboard's trend), with
#     its wall time and peak memory;
#   - over HTTP with an API token, REQUESTS sequential requests (default 30, after 3 warm-up
#     ones) of the dashboard (latest snapshot, with and without a unit filter), of every
#     indicator computed live with its breakdowns, and of the territorial review; p50, p99
#     and max in milliseconds, and the server's peak memory.
#
#   bench/equality.sh [PEOPLE] [COMPLETIONS] [REQUESTS]   DATABASES=sqlite (or postgres) for one
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE="${1:-100000}"
COMPLETIONS="${2:-1000000}"
REQUESTS="${3:-30}"
PORT="${BENCH_PORT:-8078}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"
for tool in sqlite3 psql; do
  command -v "$tool" >/dev/null || { echo "installing $tool (apt)"; apt-get install -y -qq sqlite3 postgresql-client >/dev/null; }
done
cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/reperes"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

python3 - "$PEOPLE" > "$WORK/export.csv" <<'PY'
import random, sys
n = int(sys.argv[1])
random.seed(11)
units = [f"Ville de Nancy/Direction {d}/Service {s}" for d in range(1, 21) for s in range(1, 11)]
units += [f"Ville de Nancy/Direction 1/Service 1/Équipe {e}" for e in range(1, 4)]
families = ["administrative", "technique", "sociale", "culturelle", "animation", "police municipale"]
print("matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie;filiere;encadrement")
for i in range(n):
    audiences = random.choice(["accueil tous", "social tous", "rh tous", "encadrement tous", "tous"])
    print(f"M{i:06d};agent{i}@ville.test;Nom{i};Prénom{i};{random.choice(units)};{audiences};Agent;"
          f"2015-01-{1 + i % 28:02d};{random.choice('FFM') if i % 50 else ''};"
          f"{random.choice(['A', 'B', 'C', 'C', 'contractuel'])};{random.choice(families)};"
          f"{'oui' if i % 12 == 0 else 'non'}")
PY
MODULES=$(ls courses | grep -v README | head -10 | tr '\n' ' ')

export REPERES_DEMO=false REPERES_SCHEDULER=false REPERES_LOG=warn
export REPERES_CERTIFICATE_KEY="Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E="
export ROCKET_SECRET_KEY="hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="

# The process's own memory (RssAnon, sampled every 50 ms) and its peak resident size (VmHWM),
# which also counts the pages of the SQLite file it maps (the operating system's file cache).
timed() { # label command...
  local label="$1"; shift
  local start anon=0 hwm=0 a h
  start=$(date +%s%N)
  "$@" > "$WORK/out" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    a=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    h=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$h" ] && hwm=$h
    sleep 0.05
  done
  wait "$pid" || { cat "$WORK/out"; exit 1; }
  printf '   %-40s %6.2f s  %5d MB own (%5d MB resident)   %s\n' "$label" \
    "$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN {print (e - s) / 1e9}')" "$((anon / 1024))" "$((hwm / 1024))" "$(tail -1 "$WORK/out")"
}

# The same data on either database: SQL that both run, with the backend's id and time
# functions substituted.
fill() { # run-sql-command uuid-expr
  local sql="$1" uuid="$2" i=0 cases=""
  for m in $MODULES; do cases="$cases WHEN $i THEN '$m'"; i=$((i + 1)); done
  $sql <<SQL
CREATE TEMP TABLE p AS SELECT row_number() OVER (ORDER BY email) - 1 AS k, id FROM users WHERE email LIKE 'agent%';
CREATE INDEX p_k ON p (k);
CREATE TEMP TABLE g AS SELECT n FROM ($SERIES) s;
INSERT INTO attempts (id, user_id, module_slug, module_version, seed, questions, pass_mark, started_at, submitted_at, score, passed)
  SELECT $uuid, p.id, CASE (g.n / $PEOPLE) % 10 $cases END, 'bench', g.n, '[]', 70,
         $(ts "g.n % 330"), $(ts "g.n % 330"), 60 + g.n % 41, TRUE
  FROM g JOIN p ON p.k = g.n % $PEOPLE;
INSERT INTO completions (id, user_id, module_slug, module_version, attempt_id, score, completed_at)
  SELECT $uuid, user_id, module_slug, module_version, id, score, submitted_at FROM attempts WHERE module_version = 'bench';
INSERT INTO certificates (id, number, user_id, completion_id, module_slug, payload, signature, key_id, issued_at)
  SELECT $uuid, 'BENCH-' || $(hexid c.attempt_id), c.user_id, c.id, c.module_slug, '{}', 'x', 'bench', c.completed_at
  FROM completions c WHERE c.module_slug IN ('sexisme-et-harcelement', 'recruter-sans-discriminer');
INSERT INTO obligations (id, user_id, module_slug, cycle, assigned_at, due_on, completed_at, current)
  SELECT $uuid, p.id, CASE g.n % 3 WHEN 0 THEN 'recruter-sans-discriminer' WHEN 1 THEN 'sexisme-et-harcelement' ELSE 'comprendre-les-discriminations' END,
         1, $(ts "0"), $(day "g.n % 300"), CASE WHEN g.n % 4 = 0 THEN NULL ELSE $(ts "g.n % 300 - g.n % 7 + 3") END, TRUE
  FROM g JOIN p ON p.k = g.n / 3 WHERE g.n < 3 * $PEOPLE;
INSERT INTO equality_plan (id, starts_on, ends_on, updated_at) VALUES (1, $(day "0"), $(day "1000"), $(ts "0"));
INSERT INTO equality_actions (id, axis, title, description, owner_id, starts_on, ends_on, status, progress, created_at, updated_at)
  SELECT $uuid, 'E' || (1 + g.n % 5), 'Action ' || g.n, '', p.id, $(day "g.n * 7"), $(day "g.n * 14 + 60"),
         CASE g.n % 3 WHEN 0 THEN 'done' WHEN 1 THEN 'in_progress' ELSE 'not_started' END, (g.n * 4) % 101, $(ts "0"), $(ts "0")
  FROM g JOIN p ON p.k = g.n WHERE g.n < 25;
SQL
}

run() { # label url
  local label="$1" url="$2"
  export REPERES_DATABASE_URL="$url"
  echo "== $label: $PEOPLE people, $COMPLETIONS completions"
  "$BIN" people import "$WORK/export.csv" > /dev/null
  local start=$SECONDS
  if [ "$label" = sqlite ]; then
    SERIES="WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < $COMPLETIONS - 1) SELECT n FROM s"
    ts() { echo "strftime('%Y-%m-%dT10:00:00+00:00', '2026-01-01', '+' || ($1) || ' days')"; }
    day() { echo "date('2026-01-01', '+' || ($1) || ' days')"; }
    hexid() { echo "hex($1)"; }
    fill "sqlite3 ${url#sqlite://}" "randomblob(16)"
  else
    SERIES="SELECT generate_series(0, $COMPLETIONS - 1) AS n"
    ts() { echo "(TIMESTAMPTZ '2026-01-01 10:00:00+00' + (($1) || ' days')::interval)"; }
    day() { echo "(DATE '2026-01-01' + ($1)::int)"; }
    hexid() { echo "($1)::text"; }
    fill "psql -q -v ON_ERROR_STOP=1 $url" "gen_random_uuid()"
    # What autovacuum does within minutes of a bulk load (PostgreSQL 13 and later vacuum
    # after inserts too): statistics, and the visibility map that index-only scans need.
    # Then a checkpoint: otherwise the checkpointer writes the load's pages out during the
    # measurements, for minutes, on the same 2 cores.
    psql -q "$url" -c "VACUUM ANALYZE"
    psql -q "$url" -c "CHECKPOINT"
  fi
  echo "   data generated in $((SECONDS - start)) s"
  for month in 06 07 08 09 10 11; do
    timed "monthly snapshot job (2026-$month)" "$BIN" jobs run equality_snapshot --at "2026-$month-01T05:00:00Z"
  done
  local token
  token=$("$BIN" tokens create --name bench --scope read | grep -o 'rpr_[A-Za-z0-9_-]*' | head -1)
  ROCKET_PORT="$PORT" ROCKET_LOG_LEVEL=off "$BIN" > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.2; done
  python3 - "$PORT" "$token" "$REQUESTS" <<'PY'
import json, sys, time, urllib.request
port, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = f"http://127.0.0.1:{port}/api/v1/equality"
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())
def bench(label, path):
    for _ in range(3):
        get(path)
    times = []
    for _ in range(n):
        t = time.perf_counter(); get(path); times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(round(q * (len(times) - 1))))]
    print(f"   {label:<58} p50 {p(0.5):7.1f} ms  p99 {p(0.99):7.1f} ms  max {times[-1]:7.1f} ms")
bench("dashboard (latest snapshot, trend of 6)", "/dashboard?from=2026-01-01&to=2026-12-31")
bench("dashboard filtered by a direction", "/dashboard?from=2026-01-01&to=2026-12-31&unit=Ville%20de%20Nancy/Direction%201")
for i in get("/indicators")["indicators"]:
    bench(f"indicator {i['code']} (live, 5 breakdowns)", f"/indicators/{i['id']}?from=2026-01-01&to=2026-12-31")
bench("territorial review (2026)", "/territorial?from=2026-01-01&to=2026-12-31")
PY
  printf '   server memory: %s MB own at the end, %s MB resident at the peak (with the mapped database file)\n' \
    "$(awk '/^RssAnon/ {print int($2 / 1024)}' /proc/$SERVER_PID/status)" \
    "$(awk '/^VmHWM/ {print int($2 / 1024)}' /proc/$SERVER_PID/status)"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

[[ " ${DATABASES:-sqlite postgres} " == *" sqlite "* ]] && run sqlite "sqlite://$WORK/equality.db"
if [[ " ${DATABASES:-sqlite postgres} " == *" postgres "* ]] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="reperes_equality_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  run postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)"
fi
