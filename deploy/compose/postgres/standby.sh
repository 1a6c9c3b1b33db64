#!/bin/bash
# The standby's entrypoint. On first start (an empty data directory) it copies the primary
# with pg_basebackup; -R writes the recovery settings (standby.signal and primary_conninfo), so
# the server starts as a standby streaming the primary's WAL. Then the image's own entrypoint
# runs the server as usual (it finds a data directory and initialises nothing).
# The password of the `replicator` role comes from PGPASSWORD.
set -euo pipefail
: "${PGPASSWORD:?set POSTGRES_REPLICATION_PASSWORD in .env}"

mkdir -p "$PGDATA"
if [ -z "$(ls -A "$PGDATA")" ]; then
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    echo "standby: copying the primary into $PGDATA"
    gosu postgres pg_basebackup -h postgres-primary -U replicator -D "$PGDATA" \
        -R -X stream -c fast
fi

exec docker-entrypoint.sh "$@"
