#!/bin/bash
# Runs once, when the primary's data directory is first made: Docket's read model, the database
# `docket` owned by the role `docket`, which Docket connects as (its migrations create the
# tables in it).
set -euo pipefail
: "${POSTGRES_DOCKET_PASSWORD:?set in .env}"

# As in 10-replication.sh: no standby yet, so commit locally.
PGOPTIONS='-c synchronous_commit=local' psql -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set password="$POSTGRES_DOCKET_PASSWORD" <<'SQL'
CREATE ROLE docket WITH LOGIN PASSWORD :'password';
CREATE DATABASE docket OWNER docket;
SQL
