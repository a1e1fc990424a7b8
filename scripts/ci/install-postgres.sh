#!/usr/bin/env bash
# Install PostgreSQL 15 with RUM (Debian package) and build/install pgvector for it (Debian bookworm).
#
# Bookworm ships no pgvector binary package for PG15, so we build Debian's own
# pgvector source package from trixie. The trixie deb-src entry lives in a
# private, throw-away apt directory; the machine's apt configuration, lists and
# caches are left untouched.
#
# Idempotent: if PostgreSQL 15 and vector.control are already installed it only
# reports what is there and exits. Must run as root (re-execs via sudo if not).
set -euo pipefail

PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
export DEBIAN_FRONTEND=noninteractive

log() { echo "[install-postgres] $*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  log "must run as root"; exit 1
fi

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

vector_installed() {
  [[ -x ${PG_CONFIG} ]] || return 1
  local sharedir pkglibdir
  sharedir="$("${PG_CONFIG}" --sharedir)"
  pkglibdir="$("${PG_CONFIG}" --pkglibdir)"
  [[ -f ${sharedir}/extension/vector.control && -f ${pkglibdir}/vector.so ]]
}

vector_version() {
  sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$("${PG_CONFIG}" --sharedir)/extension/vector.control"
}

# ---------------------------------------------------------------- fast path
if pkg_installed "postgresql-${PG_MAJOR}" && pkg_installed "postgresql-contrib" && pkg_installed "postgresql-${PG_MAJOR}-rum" && vector_installed; then
  log "PostgreSQL ${PG_MAJOR} and pgvector $(vector_version) already installed; nothing to do"
  exit 0
fi

# ------------------------------------------------------ 1. apt packages
need=()
# postgresql-15-rum: the RUM index migration 0010 builds where the extension exists (Neon has rum 1.3).
for p in "postgresql-${PG_MAJOR}" postgresql-contrib "postgresql-${PG_MAJOR}-rum" "postgresql-server-dev-${PG_MAJOR}" \
         build-essential dpkg-dev ca-certificates; do
  pkg_installed "$p" || need+=("$p")
done
if ((${#need[@]})); then
  log "apt-get update"
  apt-get update -qq
  log "installing: ${need[*]}"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  log "apt packages already installed"
fi

if vector_installed; then
  log "pgvector $(vector_version) already installed"
  exit 0
fi

# ------------------------------------- 2. fetch pgvector source from trixie
# Reuse the Debian mirror host this machine is configured with.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  mirror="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")"
  [[ -n $mirror ]] && break
done
if [[ -z $mirror ]]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    mirror="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")"
    [[ -n $mirror ]] && break
  done
fi
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}"
log "using mirror ${mirror} (trixie deb-src)"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
work="$(mktemp -d /tmp/pgvector-build.XXXXXX)"
cleanup() { rm -rf "${work}"; }
trap cleanup EXIT

aptdir="${work}/apt"
mkdir -p "${aptdir}/sources.list.d" "${aptdir}/lists/partial" "${aptdir}/cache/archives/partial"
signed_by=""
[[ -f ${keyring} ]] && signed_by=" [signed-by=${keyring}]"
echo "deb-src${signed_by} ${mirror} trixie main" >"${aptdir}/sources.list.d/trixie-src.list"

apt_private=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=${aptdir}/sources.list.d"
  -o "Dir::State::Lists=${aptdir}/lists"
  -o "Dir::Cache=${aptdir}/cache"
  -o "APT::Sandbox::User=root"
)
log "apt-get update (private trixie deb-src list)"
apt-get "${apt_private[@]}" update -qq
mkdir -p "${work}/src"
log "apt-get source pgvector"
(cd "${work}/src" && apt-get "${apt_private[@]}" source -qq pgvector >/dev/null)

srcdir="$(find "${work}/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
[[ -n ${srcdir} ]] || { log "pgvector source not found after apt-get source"; exit 1; }
log "building $(basename "${srcdir}")"

# ------------------------------------------------------ 3. build + install
# OPTFLAGS="" as in Debian's packaging (no -march=native: portable binary).
make -C "${srcdir}" -s -j"$(nproc)" PG_CONFIG="${PG_CONFIG}" OPTFLAGS="" >/dev/null
make -C "${srcdir}" -s install PG_CONFIG="${PG_CONFIG}" OPTFLAGS="" >/dev/null

vector_installed || { log "vector.control / vector.so missing after make install"; exit 1; }
log "installed pgvector $(vector_version) into $("${PG_CONFIG}" --pkglibdir)"
