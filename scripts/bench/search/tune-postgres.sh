#!/usr/bin/env bash
# The server settings the search API figures were taken with, on the cluster that
# scripts/ci/start-postgres.sh started (127.0.0.1:5433, data in /tmp/edgestock-pg):
#   shared_buffers = 1GB  the 100k corpus (about 0.9 GB with its indexes) stays in Postgres's own cache,
#                         as it would on a Neon compute of this size, rather than in the OS page cache;
#                         SHARED_BUFFERS=6GB for the 1M corpus (a quarter of this machine's 24 GB, the
#                         usual starting point), so its 2.5 GB HNSW graph stays there too: with 1GB a
#                         vector search at ef_search 400 read about 2,800 of its 4,200 pages from the OS
#                         cache, 13.5 ms against 8.8 ms with every page in shared buffers;
#   jit = off             a plan over jit_above_cost (a one-word query matching a third of the corpus,
#                         an exact filtered vector scan) would otherwise spend tens of ms compiling.
# ALTER SYSTEM, then a restart (shared_buffers needs one). Run as root; `recall.ts` and `api.ts`
# print the settings they ran under. Undo with ALTER SYSTEM RESET ALL and another restart.
set -euo pipefail
datadir="${1:-/tmp/edgestock-pg}"
shared_buffers="${SHARED_BUFFERS:-1GB}"
[[ "$shared_buffers" =~ ^[0-9]+[kMG]B$ ]] || { echo "SHARED_BUFFERS must look like 1GB or 512MB" >&2; exit 2; }
psql -X -q -h 127.0.0.1 -p "${PGPORT:-5433}" -U postgres -d postgres -c "alter system set shared_buffers = '$shared_buffers'" -c "alter system set jit = off"
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$datadir" -w restart -m fast >/dev/null
psql -X -At -h 127.0.0.1 -p "${PGPORT:-5433}" -U postgres -d postgres -c "select 'shared_buffers=' || current_setting('shared_buffers') || ', jit=' || current_setting('jit')"
