# Shared by the bench scripts (sourced after scripts/env.sh).

# bench_pg_sized ["name = value" ...]: the stack's PostgreSQL (running or not) configured as a
# benchmark-sized server — 1 GB shared_buffers, 4 GB max_wal_size: the test stack's 32 MB
# would measure the disk, not the code — plus each extra setting given; left stopped, so the
# next start applies them all.
bench_pg_sized() {
  local set=(-c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'") s
  for s in "$@"; do set+=(-c "ALTER SYSTEM SET $s"); done
  ESCUCHA_SKIP_DEPS=1 scripts/stack.sh pg-start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ESCUCHA_PG_PORT" -U postgres -d escucha "${set[@]}" >/dev/null
  scripts/stack.sh pg-stop >/dev/null
}
