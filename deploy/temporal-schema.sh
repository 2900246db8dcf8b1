#!/bin/sh
# Creates Temporal's databases on first start and applies schema migrations on upgrades (idempotent).
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}; schema=${db##*:}
  tool --db "$name" create || true   # already exists on restarts
  tool --db "$name" setup-schema -v 0.0 || true
  tool --db "$name" update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
