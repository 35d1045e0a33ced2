#!/usr/bin/env bash
# Install the system parts the drill and the integration tests run for real:
# a PostgreSQL server (15 preferred) and a JDK >= 17 (for Keycloak). Only what is
# missing is installed, and only where we may (root, or passwordless sudo, with
# apt-get); otherwise we say what to install and stop.
set -euo pipefail

need=()
have_pg=""
for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
  [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && have_pg="$d"
done
[ -n "${IDP_DR_PG_BINDIR:-}" ] && [ -x "$IDP_DR_PG_BINDIR/postgres" ] && have_pg="$IDP_DR_PG_BINDIR"
[ -z "$have_pg" ] && need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
# As root, PostgreSQL's archive/restore commands need a venv built from a system Python.
if [ "$(id -u)" = "0" ] && ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "system-deps: missing ${need[*]}; install them (e.g. 'sudo apt-get install ${need[*]}') and re-run" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's postgresql package creates and starts a default cluster; the lab never uses it.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name _; do
    $sudo pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
fi
