#!/bin/bash
# Runs once, when the primary's data directory is first made: the role the standby copies the
# cluster and streams its WAL as, and the pg_hba.conf line that lets it in (a replication
# connection matches only lines that name `replication`).
set -euo pipefail
: "${POSTGRES_REPLICATION_PASSWORD:?set in .env}"

# The primary runs with synchronous_standby_names='*', and no standby exists yet: without
# synchronous_commit=local this script's commit would wait for one forever.
PGOPTIONS='-c synchronous_commit=local' psql -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL

echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
