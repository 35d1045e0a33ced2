#!/usr/bin/env bash
# Install the system parts the drill and the integration tests run for real:
# a PostgreSQL 15 server and a JDK >= 17 (for Keycloak). Only what is missing is
# installed, and only where we may (root with apt-get); otherwise we say what to do.
set -euo pipefail

need=()
pg_bindir=""
for d in /usr/lib/postgresql/15/bin /usr/local/pgsql/bin; do
  [ -x "$d/postgres" ] && pg_bindir="$d" && break
done
[ -z "$pg_bindir" ] && command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ] && pg_bindir="$(pg_config --bindir)"
[ -z "$pg_bindir" ] && need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
# As root, PostgreSQL's archive/restore commands need a venv built from a system Python.
if [ "$(id -u)" = "0" ] && ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's postgresql package creates and starts a default cluster; we never use it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; fi
else
  echo "system-deps: missing ${need[*]}; install them (e.g. 'sudo apt-get install ${need[*]}') and re-run" >&2
  exit 1
fi
