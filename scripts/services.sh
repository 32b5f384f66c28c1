#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) answer, starting them when
# they are installed but stopped. Exits non-zero if one still does not answer after 60 s.
set -uo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
mysql_up() {
  if command -v mariadb-admin >/dev/null; then mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1
  else mysqladmin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; fi
}

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi
if ! mysql_up && [ -x /usr/sbin/mariadbd ]; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi

for _ in $(seq 60); do
  pg_up && mysql_up && { echo "services: PostgreSQL and MariaDB answer"; exit 0; }
  sleep 1
done
pg_up || echo "services: PostgreSQL does not answer at 127.0.0.1:5432" >&2
mysql_up || echo "services: MariaDB does not answer at 127.0.0.1:3306" >&2
exit 1
