#!/usr/bin/env bash
# Escucha local-stack configuration: one place for every default (DESIGN.md
# "Local defaults"), overridable by the ESCUCHA_* environment.
#   eval "$(scripts/env.sh)"   -> exports the config into your shell
#   . scripts/env.sh           -> (used by stack.sh) just defines the variables
ESCUCHA_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ESCUCHA_STATE_DIR="${ESCUCHA_STATE_DIR:-$ESCUCHA_REPO/.escucha}"
# Absolute state path: it ends up in configs and in other processes' env.
case "$ESCUCHA_STATE_DIR" in /*) ;; *) ESCUCHA_STATE_DIR="$PWD/$ESCUCHA_STATE_DIR" ;; esac
ESCUCHA_KAFKA_PORT="${ESCUCHA_KAFKA_PORT:-19092}"
ESCUCHA_KAFKA_CONTROLLER_PORT="${ESCUCHA_KAFKA_CONTROLLER_PORT:-19093}"
# Kafka nodes (KRaft, each broker+controller). 1 = today's single broker; 3 = a replicated
# cluster (RF 3, min.insync.replicas 2): node i listens on KAFKA_PORT+2(i-1), its controller
# on KAFKA_CONTROLLER_PORT+2(i-1). `make up KAFKA_BROKERS=3` sets it.
ESCUCHA_KAFKA_BROKER_COUNT="${ESCUCHA_KAFKA_BROKER_COUNT:-1}"
ESCUCHA_PG_PORT="${ESCUCHA_PG_PORT:-15432}"
ESCUCHA_REDIS_PORT="${ESCUCHA_REDIS_PORT:-16379}"
ESCUCHA_HTTP_PORT="${ESCUCHA_HTTP_PORT:-8080}"
# escucha-api's HTTP port (stack.sh gives it to the api as its ESCUCHA_HTTP_PORT)
ESCUCHA_API_HTTP_PORT="${ESCUCHA_API_HTTP_PORT:-8081}"
ESCUCHA_ADMIN_PORT_BASE="${ESCUCHA_ADMIN_PORT_BASE:-9100}"
ESCUCHA_BIN_DIR="${ESCUCHA_BIN_DIR:-$ESCUCHA_REPO/build/bin}"
case "$ESCUCHA_BIN_DIR" in /*) ;; *) ESCUCHA_BIN_DIR="$PWD/$ESCUCHA_BIN_DIR" ;; esac
# What the services are given (stack.sh passes these; an already-set value wins).
# (with several nodes the bootstrap list names them all: any one may be down)
if [[ -z ${ESCUCHA_KAFKA_BROKERS:-} ]]; then
  ESCUCHA_KAFKA_BROKERS=127.0.0.1:$ESCUCHA_KAFKA_PORT
  for ((_i = 1; _i < ESCUCHA_KAFKA_BROKER_COUNT; _i++)); do
    ESCUCHA_KAFKA_BROKERS+=,127.0.0.1:$((ESCUCHA_KAFKA_PORT + 2 * _i))
  done
  unset _i
fi
ESCUCHA_PG_DSN="${ESCUCHA_PG_DSN:-host=127.0.0.1 port=$ESCUCHA_PG_PORT dbname=escucha user=escucha}"
ESCUCHA_REDIS_URL="${ESCUCHA_REDIS_URL:-redis://127.0.0.1:$ESCUCHA_REDIS_PORT}"
ESCUCHA_API_KEYS_FILE="${ESCUCHA_API_KEYS_FILE:-$ESCUCHA_STATE_DIR/api-keys}"
# escucha-api connects as the read-only role escucha_api (migrations/002_read_side.sql)
ESCUCHA_API_PG_DSN="${ESCUCHA_API_PG_DSN:-host=127.0.0.1 port=$ESCUCHA_PG_PORT dbname=escucha user=escucha_api}"
ESCUCHA_RECEIPT_SECRET_FILE="${ESCUCHA_RECEIPT_SECRET_FILE:-$ESCUCHA_STATE_DIR/receipt.key}"
# reporters' contacts: ingest seals them to the public key, only actions (the notifier) opens them
ESCUCHA_CONTACT_PUBLIC_KEY_FILE="${ESCUCHA_CONTACT_PUBLIC_KEY_FILE:-$ESCUCHA_STATE_DIR/contact.pub}"
ESCUCHA_CONTACT_SECRET_KEY_FILE="${ESCUCHA_CONTACT_SECRET_KEY_FILE:-$ESCUCHA_STATE_DIR/contact.key}"
# where ingest sends citizens (status_url) and forwards Open311 GETs: escucha-api
ESCUCHA_PUBLIC_API_URL="${ESCUCHA_PUBLIC_API_URL:-http://127.0.0.1:$ESCUCHA_API_HTTP_PORT}"
ESCUCHA_OPEN311_READ_URL="${ESCUCHA_OPEN311_READ_URL:-http://127.0.0.1:$ESCUCHA_API_HTTP_PORT}"
ESCUCHA_MIGRATIONS_DIR="${ESCUCHA_MIGRATIONS_DIR:-$ESCUCHA_REPO/migrations}"
ESCUCHA_TAXONOMY="${ESCUCHA_TAXONOMY:-$ESCUCHA_REPO/config/taxonomy.default.json}"
ESCUCHA_MODEL="${ESCUCHA_MODEL:-$ESCUCHA_STATE_DIR/model.bin}"

ESCUCHA_ENV_VARS="ESCUCHA_STATE_DIR ESCUCHA_KAFKA_PORT ESCUCHA_KAFKA_CONTROLLER_PORT ESCUCHA_KAFKA_BROKER_COUNT
ESCUCHA_PG_PORT ESCUCHA_REDIS_PORT ESCUCHA_HTTP_PORT ESCUCHA_ADMIN_PORT_BASE ESCUCHA_BIN_DIR
ESCUCHA_KAFKA_BROKERS ESCUCHA_PG_DSN ESCUCHA_REDIS_URL ESCUCHA_API_KEYS_FILE ESCUCHA_RECEIPT_SECRET_FILE
ESCUCHA_MIGRATIONS_DIR ESCUCHA_TAXONOMY ESCUCHA_MODEL ESCUCHA_API_HTTP_PORT ESCUCHA_API_PG_DSN
ESCUCHA_PUBLIC_API_URL ESCUCHA_OPEN311_READ_URL ESCUCHA_CONTACT_PUBLIC_KEY_FILE
ESCUCHA_CONTACT_SECRET_KEY_FILE"

# admin port of a service (ingest=base+1, classify=+2, prioritize=+3, actions=+4, api=+5)
escucha_admin_port() {
  case "$1" in
    ingest) echo $((ESCUCHA_ADMIN_PORT_BASE + 1)) ;;
    classify) echo $((ESCUCHA_ADMIN_PORT_BASE + 2)) ;;
    prioritize) echo $((ESCUCHA_ADMIN_PORT_BASE + 3)) ;;
    actions) echo $((ESCUCHA_ADMIN_PORT_BASE + 4)) ;;
    api) echo $((ESCUCHA_ADMIN_PORT_BASE + 5)) ;;
    *) echo "unknown service: $1" >&2; return 1 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  for v in $ESCUCHA_ENV_VARS; do printf 'export %s=%q\n' "$v" "${!v}"; done
  # handy for scripts and tests; read from the file so it is never stale
  if [[ -r "$ESCUCHA_STATE_DIR/demo-api-key" ]]; then
    printf 'export ESCUCHA_DEMO_API_KEY=%q\n' "$(cat "$ESCUCHA_STATE_DIR/demo-api-key")"
  fi
fi
