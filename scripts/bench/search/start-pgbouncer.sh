#!/usr/bin/env bash
# PgBouncer in front of the benchmark server (127.0.0.1:6432 → 5433, or $PGPORT), session pooling: each request's
# new connection reuses a warm server process instead of forking one, as Neon's pooled endpoint
# (PgBouncer) does for the Worker in production. Run as root after scripts/ci/start-postgres.sh;
# then DATABASE_URL=postgres://postgres@127.0.0.1:6432/edgestock_bench for api.ts. PGPORT picks the
# server's port (default 5433, start-postgres.sh's).
set -euo pipefail
server_port=${PGPORT:-5433}
command -v pgbouncer >/dev/null || { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }
dir=/tmp/edgestock-pgbouncer
mkdir -p "$dir"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$server_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
auth_type = trust
auth_file = $dir/users.txt
pool_mode = session
server_reset_query = DISCARD ALL
max_client_conn = 500
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
unix_socket_dir =
INI
echo '"postgres" ""' > "$dir/users.txt"
chown -R postgres "$dir"
if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then kill "$(cat "$dir/pgbouncer.pid")"; sleep 1; fi
su postgres -c "pgbouncer -d $dir/pgbouncer.ini"
echo "[start-pgbouncer] postgres://postgres@127.0.0.1:6432/edgestock_bench"
