#!/usr/bin/env bash
# Times the directory import of a generated HR export (default 50,000 rows) with the
# release binary, on SQLite and, when it answers, on PostgreSQL: dry run, first import,
# and the same file again (nothing to change).
#
#   bench/import.sh [rows]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-50000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"
cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/reperes"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$ROWS" > "$WORK/export.csv" <<'PY'
import random, sys
n = int(sys.argv[1])
random.seed(7)
units = [f"Ville de Nancy/Direction {d}/Service {s}" for d in range(1, 21) for s in range(1, 11)]
aud = ["accueil tous", "rh tous", "social tous", "encadrement tous", "tous"]
print("matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie")
for i in range(n):
    print(f"M{i:06d};agent{i}@ville.test;Nom{i};Prénom{i};{random.choice(units)};{random.choice(aud)};Agent;2015-01-{1 + i % 28:02d};{random.choice('FM')};{random.choice('ABC')}")
PY

run() { # label url
  local label="$1" url="$2"
  echo "== $label, $ROWS rows"
  for pass in "--dry-run" "" ""; do
    local start end
    start=$(date +%s.%N)
    REPERES_DATABASE_URL="$url" "$BIN" people import "$WORK/export.csv" $pass | sed -n 1p
    end=$(date +%s.%N)
    printf '   %s: %.2f s\n' "${pass:-import}" "$(echo "$end - $start" | bc)"
  done
}

run sqlite "sqlite://$WORK/import.db"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="reperes_import_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  run postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)"
fi
