#!/usr/bin/env bash
# Obligations and reminders at scale, on a release build: PEOPLE people (default 100,000)
# imported from a generated HR export, 10 assignment rules (one per module) so that
# everyone has 10 obligations (1 million cycles), then, on SQLite and on PostgreSQL:
#   - the first obligations sweep (opens every cycle),
#   - the nightly sweep of the next day (nothing to change: the steady state),
#   - the reminders sweep of an ordinary day (no stage reached), then of a day when every
#     cycle reaches a stage (one digest per person), then the same an hour later,
#   - delivery of MAIL messages (default 5,000) to the local SMTP capture server.
# Each line gives the wall time and the peak memory (maximum resident set) of the process.
#
#   bench/sweep.sh [PEOPLE] [MAIL]        DATABASES=sqlite (or postgres) for one database
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE="${1:-100000}"
MAIL="${2:-5000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"
cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/reperes"
WORK="$(mktemp -d)"
SMTP_PID=""
cleanup() { [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
[ -d tests/support/node_modules ] || (cd tests/support && npm ci --silent)

python3 - "$PEOPLE" > "$WORK/export.csv" <<'PY'
import random, sys
n = int(sys.argv[1])
random.seed(7)
units = [f"Ville de Nancy/Direction {d}/Service {s}" for d in range(1, 21) for s in range(1, 11)]
print("matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie")
for i in range(n):
    print(f"M{i:06d};agent{i}@ville.test;Nom{i};Prénom{i};{random.choice(units)};accueil tous;Agent;2015-01-{1 + i % 28:02d};{random.choice('FM')};{random.choice('ABC')}")
PY
MODULES=$(ls courses | grep -v README | head -10)

# The settings of every command: release build, no demo data, mail to the capture server.
export REPERES_DEMO=false REPERES_SCHEDULER=false REPERES_LOG_FORMAT=json
export REPERES_LOG=warn,reperes::obligations=info,reperes::reminders=debug
export REPERES_CERTIFICATE_KEY="Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E="
export ROCKET_SECRET_KEY="hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="
export REPERES_MAIL_TRANSPORT=smtp REPERES_SMTP_HOST=127.0.0.1

node tests/support/smtp-capture.mjs --port 0 --dir "$WORK/mail" > "$WORK/smtp.out" 2> /dev/null &
SMTP_PID=$!
for _ in $(seq 50); do grep -q READY "$WORK/smtp.out" 2>/dev/null && break; sleep 0.1; done
export REPERES_SMTP_PORT="$(awk '/READY/ {print $2}' "$WORK/smtp.out")"

timed() { # label command...
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out" 2>&1 || { cat "$WORK/out"; exit 1; }
  read -r secs kb < "$WORK/time"
  printf '   %-44s %7.2f s  %6d MB   %s\n' "$label" "$secs" "$((kb / 1024))" "$(tail -1 "$WORK/out")"
  # The sweeps log where their time went (reading, deciding, writing).
  grep -oE '"[a-z_]+_ms":[0-9]+' "$WORK/out" | tr -d '"' | tr ':\n' '= ' | sed 's/^./      phases: &/;s/ $/\n/' || true
}

run() { # label url
  local label="$1" url="$2"
  export REPERES_DATABASE_URL="$url"
  echo "== $label: $PEOPLE people x 10 modules"
  "$BIN" people import "$WORK/export.csv" > /dev/null
  local n=0
  for m in $MODULES; do
    n=$((n + 1))
    if [ "$label" = sqlite ]; then
      sqlite3 "${url#sqlite://}" "INSERT INTO assignment_rules (id, name, module_slug, org_unit, due_days, due_from, active, created_at, updated_at)
        VALUES (randomblob(16), 'Règle $n', '$m', 'Ville de Nancy', 30, 'assignment', 1, '2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')"
    else
      psql "$url" -qc "INSERT INTO assignment_rules (id, name, module_slug, org_unit, due_days, due_from, active, created_at, updated_at)
        VALUES (gen_random_uuid(), 'Règle $n', '$m', 'Ville de Nancy', 30, 'assignment', TRUE, now(), now())"
    fi
  done
  # Assigned on Wednesday 20 January 2027 at the 03:00 sweep: due on 19 February.
  timed "obligations sweep, first (opens every cycle)" "$BIN" jobs run obligations_sweep --at 2027-01-20T02:00:00Z
  timed "obligations sweep, next night (steady)" "$BIN" jobs run obligations_sweep --at 2027-01-21T02:00:00Z
  # Wednesday 27 January, 10:00 Paris: 23 days before the due date, no stage is reached
  # (the hourly sweep of an ordinary day).
  timed "reminders sweep, ordinary day (no stage)" "$BIN" jobs run reminders_sweep --at 2027-01-27T09:00:00Z
  # Friday 5 February, 10:00 Paris: 14 days before the due date, every cycle has a stage.
  timed "reminders sweep (one digest per person)" "$BIN" jobs run reminders_sweep --at 2027-02-05T09:00:00Z
  timed "reminders sweep again (nothing new)" "$BIN" jobs run reminders_sweep --at 2027-02-05T10:00:00Z
  rm -rf "$WORK/mail"/*.eml
  timed "delivery of $MAIL messages to the SMTP server" "$BIN" jobs deliver --at 2027-02-05T09:01:00Z --max "$MAIL"
  awk -v n="$MAIL" -v line="$(cat "$WORK/time")" 'BEGIN { split(line, a, " "); printf "   delivery rate: %.0f messages/s (process start included)\n", n / a[1] }'
}

[[ " ${DATABASES:-sqlite postgres} " == *" sqlite "* ]] && run sqlite "sqlite://$WORK/sweep.db"
if [[ " ${DATABASES:-sqlite postgres} " == *" postgres "* ]] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="reperes_sweep_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  run postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)"
fi
