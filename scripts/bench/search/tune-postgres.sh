#!/usr/bin/env bash
# The server settings the search API figures were taken with, on the cluster that
# scripts/ci/start-postgres.sh started (127.0.0.1:5433, data in /tmp/edgestock-pg):
#   shared_buffers = 1GB  the 100k corpus (about 0.9 GB with its indexes) stays in Postgres's own cache,
#                         as it would on a Neon compute of this size, rather than in the OS page cache;
#   jit = off             a plan over jit_above_cost (a one-word query matching a third of the corpus,
#                         an exact filtered vector scan) would otherwise spend tens of ms compiling.
# ALTER SYSTEM, then a restart (shared_buffers needs one). Run as root; `recall.ts` and `api.ts`
# print the settings they ran under. Undo with ALTER SYSTEM RESET ALL and another restart.
set -euo pipefail
datadir="${1:-/tmp/edgestock-pg}"
psql -X -q -h 127.0.0.1 -p "${PGPORT:-5433}" -U postgres -d postgres -c "alter system set shared_buffers = '1GB'" -c "alter system set jit = off"
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$datadir" -w restart -m fast >/dev/null
psql -X -At -h 127.0.0.1 -p "${PGPORT:-5433}" -U postgres -d postgres -c "select 'shared_buffers=' || current_setting('shared_buffers') || ', jit=' || current_setting('jit')"
