#!/usr/bin/env bash
# Make sure the PostgreSQL tools the tests need are present: the server binaries, pgTAP,
# pg_prove, PL/Proxy (for the sharded cluster of `make cluster`), Graphviz's dot (workflow diagrams),
# (for lint) plpgsql_check and (for the schedule test) pg_cron. As root, missing ones are installed
# from Debian's packages; otherwise the exact install command is printed. Silent when all is there.
# Usage: scripts/setup-pg-tools.sh CDLSTORE_COMMAND
set -euo pipefail
cdlstore=$1

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        echo "setup: apt-get update" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        apt_updated=1
    fi
    echo "setup: apt-get install -y $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

if ! bindir=$("$cdlstore" db bindir 2>/dev/null); then
    if can_install; then
        apt_install postgresql
        bindir=$("$cdlstore" db bindir)
    else
        echo "setup: PostgreSQL server binaries not found; install them, e.g. sudo apt-get install postgresql" >&2
        exit 1
    fi
fi
major=$("$bindir/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
sharedir=$("$bindir/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$major")

missing=()
[ -n "${DATABASE_URL:-}" ] || [ -f "$sharedir/extension/pgtap.control" ] || missing+=("postgresql-$major-pgtap")
command -v pg_prove >/dev/null || missing+=(libtap-parser-sourcehandler-pgtap-perl)
[ -n "${DATABASE_URL:-}" ] || [ -f "$sharedir/extension/plproxy.control" ] || missing+=("postgresql-$major-plproxy")
command -v dot >/dev/null || missing+=(graphviz)  # `cdlstore workflow graph --format svg` and its test
optional=()
[ -n "${DATABASE_URL:-}" ] || [ -f "$sharedir/extension/plpgsql_check.control" ] || optional+=("postgresql-$major-plpgsql-check")
[ -n "${DATABASE_URL:-}" ] || [ -f "$sharedir/extension/pg_cron.control" ] || optional+=("postgresql-$major-cron")

if [ ${#missing[@]} -gt 0 ] || [ ${#optional[@]} -gt 0 ]; then
    if can_install; then
        apt_install "${missing[@]}" "${optional[@]}"
    elif [ ${#missing[@]} -gt 0 ]; then
        echo "setup: missing PostgreSQL tools (pgTAP, PL/Proxy); install them with:" >&2
        echo "    sudo apt-get install -y ${missing[*]} ${optional[*]}" >&2
        exit 1
    else
        echo "setup: plpgsql_check or pg_cron is not installed (lint or the pg_cron test will skip); to install:" >&2
        echo "    sudo apt-get install -y ${optional[*]}" >&2
    fi
fi
