#!/bin/sh
# berth's offline stand-in for the wordpress image's entrypoint: says where WordPress will look
# for its database, then runs the web server.
set -eu
if [ "${1-}" = apache2-foreground ]; then
    echo "WordPress $WORDPRESS_VERSION (berth's offline stand-in) will use the database at ${WORDPRESS_DB_HOST:-db} as ${WORDPRESS_DB_USER:-root}"
fi
exec "$@"
