#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 cluster for tests.
#
#   bash scripts/ci/start-postgres.sh [DATADIR]     (default /tmp/edgestock-pg)
#   PGPORT=5433 (default) chooses the port; it listens on 127.0.0.1 only.
#
# initdb's a fresh cluster in DATADIR (trust auth for local + loopback) unless
# DATADIR already holds one, starts it with durability off (fsync,
# synchronous_commit, full_page_writes), waits for pg_isready, checks that
# CREATE EXTENSION vector / pg_trgm work in a scratch database, and prints the
# connection URL on stdout (all other messages go to stderr).
# Idempotent: if a server already answers on 127.0.0.1:PGPORT it is reused.
# Stop it with:
#   runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D DATADIR stop -m fast
# Needs root (Postgres itself runs as the 'postgres' user via runuser).
set -euo pipefail

PG_MAJOR=15
PGBIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
DATADIR="${1:-/tmp/edgestock-pg}"
PORT="${PGPORT:-5433}"
HOST=127.0.0.1
URL="postgres://postgres@${HOST}:${PORT}/postgres"

log() { echo "[start-postgres] $*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  log "must run as root"; exit 1
fi

[[ -x ${PGBIN}/postgres ]] || { log "PostgreSQL ${PG_MAJOR} not installed; run scripts/ci/install-postgres.sh"; exit 1; }
id postgres >/dev/null 2>&1 || { log "no 'postgres' user"; exit 1; }

# Run a command as the postgres user from a directory it can read.
as_pg() { (cd / && runuser -u postgres -- "$@"); }

ready() { "${PGBIN}/pg_isready" -q -h "${HOST}" -p "${PORT}" -U postgres -d postgres; }

check_extensions() {
  local db="edgestock_extcheck_$$"
  local psql=(env PGOPTIONS="-c client_min_messages=warning" "${PGBIN}/psql" -X -q -v ON_ERROR_STOP=1 -h "${HOST}" -p "${PORT}" -U postgres)
  "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${db}" -c "CREATE DATABASE ${db}" >/dev/null
  local out rc=0
  out="$("${psql[@]}" -d "${db}" -At \
        -c "CREATE EXTENSION vector" -c "CREATE EXTENSION pg_trgm" -c "CREATE EXTENSION rum" \
        -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname IN ('vector','pg_trgm','rum')" \
        -c "SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector" 2>&1)" || rc=$?
  "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${db}" >/dev/null || true
  if ((rc)); then log "extension check failed: ${out}"; return 1; fi
  log "extensions OK: $(head -n1 <<<"${out}")"
}

if ready; then
  log "a server is already accepting connections on ${HOST}:${PORT}; reusing it"
  check_extensions
  echo "${URL}"
  exit 0
fi

# ------------------------------------------------------------ initdb
if [[ -f ${DATADIR}/PG_VERSION ]]; then
  v="$(cat "${DATADIR}/PG_VERSION")"
  [[ $v == "${PG_MAJOR}" ]] || { log "${DATADIR} holds a PostgreSQL $v cluster, expected ${PG_MAJOR}"; exit 1; }
  log "reusing existing cluster in ${DATADIR}"
else
  if [[ -d ${DATADIR} && -n "$(ls -A "${DATADIR}")" ]]; then
    log "${DATADIR} exists, is not empty and is not a PostgreSQL cluster; refusing to touch it"
    exit 1
  fi
  mkdir -p "${DATADIR}"
  chown postgres: "${DATADIR}"
  chmod 700 "${DATADIR}"
  log "initdb ${DATADIR}"
  as_pg "${PGBIN}/initdb" -D "${DATADIR}" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >/dev/null
fi

# ------------------------------------------------------------- start
LOGFILE="${DATADIR}/server.log"   # inside DATADIR: owned by and writable for postgres
log "starting on ${HOST}:${PORT} (log: ${LOGFILE})"
if ! as_pg "${PGBIN}/pg_ctl" -D "${DATADIR}" -l "${LOGFILE}" -w -t 60 start \
      -o "-c listen_addresses=${HOST} -p ${PORT} -k '${DATADIR}' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
  log "pg_ctl start failed; last lines of ${LOGFILE}:"
  tail -n 30 "${LOGFILE}" >&2 || true
  exit 1
fi

for _ in $(seq 1 60); do
  ready && break
  sleep 0.5
done
ready || { log "server did not become ready"; tail -n 30 "${LOGFILE}" >&2 || true; exit 1; }
log "ready"

check_extensions
echo "${URL}"
