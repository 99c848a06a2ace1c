#!/bin/bash
# Entry point of the postgres stand-in: first start initialises the cluster
# from POSTGRES_* the way the official image does, then runs the server as
# the postgres user. From 18 (PGDATA=/var/lib/postgresql/MAJOR/docker) it
# refuses, as the official image does, to initialise an empty PGDATA beside
# a cluster it would not serve, or with a volume at the pre-18 path.
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"

# Print each place holding data this server would not use; nothing if none.
unused_data() {
    local dir mountpoint _
    [ "$PGDATA" = "/var/lib/postgresql/${PG_MAJOR:-}/docker" ] || return 0
    [ -s "$PGDATA/PG_VERSION" ] && return 0
    for dir in /var/lib/postgresql /var/lib/postgresql/data /var/lib/postgresql/*/docker; do
        if [ -s "$dir/PG_VERSION" ]; then
            echo "  $dir (a PostgreSQL $(cat "$dir/PG_VERSION") cluster)"
        fi
    done
    while read -r _ _ _ _ mountpoint _; do
        if [ "$mountpoint" = /var/lib/postgresql/data ]; then
            echo "  /var/lib/postgresql/data (a mount this server does not use)"
        fi
    done </proc/self/mountinfo
}

if [ "${1:-}" = postgres ]; then
    # Checked before anything is created, so a refused volume stays as it was.
    unused=$(unused_data)
    if [ -n "$unused" ]; then
        cat >&2 <<MSG
error: PostgreSQL $PG_MAJOR keeps its data in $PGDATA, which is empty, and
will not start a new cluster there beside data it would not serve:
$unused
A volume written by an older major cannot be served by this one. Move it by
dump and restore: pg_dumpall from a server of the old major, then psql into
this one started with a new volume mounted at /var/lib/postgresql.
MSG
        exit 1
    fi
fi
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    # Files an earlier stand-in wrote as another uid become this postgres's.
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres {} +
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # A socket-only server, so nothing outside sees it ready before init ends.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
if [ "$1" = postgres ]; then
    shift
    exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
