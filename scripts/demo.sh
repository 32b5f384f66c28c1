#!/usr/bin/env bash
# The demo: a fresh home in $TAGPORT_HOME (default ./.tagport), the demo warehouse, recurring
# tasks created with one-click table creation, published, run for yesterday, then `tagport serve`.
#   DEMO_ROWS  users to generate (default 1,000,000)      DEMO_SERVE=0  stop before serving
set -euo pipefail
cd "$(dirname "$0")/.."
export TAGPORT_HOME="${TAGPORT_HOME:-$PWD/.tagport}"
TAGPORT="${TAGPORT:-.venv/bin/tagport}"
ROWS="${DEMO_ROWS:-1000000}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a fresh demo home in $TAGPORT_HOME"
rm -rf "$TAGPORT_HOME"
$TAGPORT init

step "the demo warehouse: $ROWS users, tags for the two days before today"
$TAGPORT demo data --rows "$ROWS"

tasks=(active_women_daily)
$TAGPORT apply -f demo/tasks.yaml
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  $TAGPORT apply -f demo/tasks-postgresql.yaml
  tasks+=(big_spenders_to_pg)
else
  echo "(PostgreSQL does not answer at 127.0.0.1:5432: exporting to the warehouse project only)"
fi

for task in "${tasks[@]}"; do
  step "$task: one-click table creation, publish, run for yesterday"
  $TAGPORT task ddl "$task"
  $TAGPORT task create-table "$task" 2>/dev/null || echo "(the table exists: reusing it)"
  $TAGPORT task publish "$task" --wait
  $TAGPORT task backfill "$task" --wait
done

step "where the rows are"
$TAGPORT task list
$TAGPORT warehouse sql "SELECT ds, count(*) AS members, count(DISTINCT city) AS cities FROM tag_prod.active_women_export GROUP BY ds"
echo "query it:  TAGPORT_HOME=$TAGPORT_HOME $TAGPORT warehouse sql \"SELECT * FROM tag_prod.active_women_export LIMIT 10\""
if [[ " ${tasks[*]} " == *" big_spenders_to_pg "* ]]; then
  psql -h 127.0.0.1 -U postgres -d test -c "SELECT count(*) AS big_spenders FROM public.tagport_demo_big_spenders" || true
  echo "query it:  psql -h 127.0.0.1 -U postgres -d test -c 'SELECT * FROM public.tagport_demo_big_spenders LIMIT 10'"
fi
echo "instances: TAGPORT_HOME=$TAGPORT_HOME $TAGPORT instance list"

step "the console and the HTTP API (served by tagport serve on http://127.0.0.1:8080)"
DEMO_PASSWORD="${DEMO_PASSWORD:-tagport-demo}"
printf '%s\n' "$DEMO_PASSWORD" | $TAGPORT user passwd operator --password-stdin
TOKEN=$($TAGPORT token create --name demo --days 7 | tail -n 1)
echo "console:   http://127.0.0.1:8080/   log in as operator / $DEMO_PASSWORD"
echo "API docs:  http://127.0.0.1:8080/api/docs"
echo "a token:   curl -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:8080/api/v1/users"

if [[ "${DEMO_SERVE:-1}" == 0 ]]; then
  exit 0
fi
step "serving: the scheduler runs the tasks daily; Ctrl-C stops"
exec $TAGPORT serve
