#!/bin/sh
# berth's offline stand-in for the nginx image's entrypoint.
set -eu
if [ "${1-}" = nginx ]; then
    echo '/docker-entrypoint.sh: Configuration complete; ready for start up'
fi
exec "$@"
