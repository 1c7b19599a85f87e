#!/bin/sh
# berth's offline stand-in for the mysql image's entrypoint: initialises /var/lib/mysql on the
# first start (as the real one does, it needs a root password setting), then runs mysqld.
set -eu
datadir=/var/lib/mysql
log() { echo "$(date -u '+%Y-%m-%d %H:%M:%S+00:00') [$1] [Entrypoint]: $2"; }
secret_of() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

initialise() {
    if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] &&
        [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
        log ERROR 'Database is uninitialized and password option is not specified' >&2
        echo '    You need to specify one of the following as an environment variable: MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD' >&2
        exit 1
    fi
    log Note 'Initializing database files'
    mkdir -p "$datadir/mysql" "$datadir/performance_schema" "$datadir/sys"
    echo "$MYSQL_VERSION" >"$datadir/mysql_upgrade_info"
    if [ -n "${MYSQL_ROOT_PASSWORD:-}" ]; then
        root_secret="$(secret_of "$MYSQL_ROOT_PASSWORD")"
    elif [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
        password="$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
        log Note "GENERATED ROOT PASSWORD: $password"
        root_secret="$(secret_of "$password")"
    else
        root_secret=-
    fi
    # One line per account: name, sha256 of the password (- for none), the database it may use.
    echo "root $root_secret *" >"$datadir/mysql/users.new"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
        log Note "Creating database $MYSQL_DATABASE"
        mkdir -p "$datadir/$MYSQL_DATABASE"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
        log Note "Creating user $MYSQL_USER"
        echo "$MYSQL_USER $(secret_of "$MYSQL_PASSWORD") ${MYSQL_DATABASE:-}" >>"$datadir/mysql/users.new"
        [ -z "${MYSQL_DATABASE:-}" ] ||
            log Note "Giving user $MYSQL_USER access to schema $MYSQL_DATABASE"
    fi
    mv "$datadir/mysql/users.new" "$datadir/mysql/users"
    log Note 'MySQL init process done. Ready for start up.'
}

case "${1-}" in -*) set -- mysqld "$@" ;; esac
if [ "${1-}" = mysqld ]; then
    log Note "Entrypoint script for MySQL Server $MYSQL_VERSION started."
    if [ -f "$datadir/mysql/users" ]; then
        log Note 'Database files present: skipping initialization (the MYSQL_* settings only set up a new data directory)'
    else
        initialise
    fi
fi
exec "$@"
