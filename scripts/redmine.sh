#!/usr/bin/env bash
# A real Redmine for the actions connector test: Debian's redmine 5.0 package
# (redmine, redmine-sqlite, ruby-webrick; scripts/deps.sh installs them) run
# as a private instance with its own SQLite database, served by WEBrick on
# 127.0.0.1. Idempotent; state in $ESCUCHA_STATE_DIR/redmine (default
# .escucha/redmine):
#   instance/        Redmine instance (config/database.yml, db/, files/, log/, tmp/)
#   settings.json    api_key, project, tracker_id, key_field_id, status ids
#   redmine.pid, redmine.log
#   scripts/redmine.sh start    set up on first use (migrate, default data, REST API on,
#                               admin API key, project "escucha", key custom field), start,
#                               wait until it answers; prints the settings as env lines
#   scripts/redmine.sh stop     stops the server this script started
#   scripts/redmine.sh status | env
# Port: ESCUCHA_REDMINE_PORT (default 19380). Needs root once: Debian's Redmine
# finds instances under /var/lib/redmine/<name>, so a symlink to the state
# folder is made there (name derived from the state folder path).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
STATE_DIR=${ESCUCHA_STATE_DIR:-$REPO/.escucha}
mkdir -p "$STATE_DIR"
STATE=$(cd "$STATE_DIR" && pwd)/redmine
PORT=${ESCUCHA_REDMINE_PORT:-19380}
RM_ROOT=/usr/share/redmine
TENANT=escucha-$(printf '%s' "$STATE" | sha1sum | cut -c1-10)
INST=$STATE/instance
PIDF=$STATE/redmine.pid
LOG=$STATE/redmine.log
SETTINGS=$STATE/settings.json
URL=http://127.0.0.1:$PORT

say() { echo "redmine: $*" >&2; }
die() { say "$*"; exit 1; }

# Debian's default bundler (from ruby3.1) cannot see the Debian-packaged gems
# Redmine's Gemfile needs; Debian's ruby-bundler can (same fix deps.sh uses).
bundler_version() {
  dpkg-query -W -f='${Version}' ruby-bundler 2>/dev/null | sed 's/[-+~].*//'
}

rails_env() {
  export REDMINE_INSTANCE=$TENANT RAILS_ENV=production RAILS_LOG_TO_STDOUT=
  local bv; bv=$(bundler_version)
  [[ -n $bv ]] && export BUNDLER_VERSION=$bv
}

check_packages() {
  local p st
  for p in redmine redmine-sqlite ruby-webrick; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || die "package $p is not installed (run scripts/deps.sh)"
  done
}

running() {
  [[ -s $PIDF ]] && kill -0 "$(cat "$PIDF")" 2>/dev/null
}

answers() {
  [[ -s $SETTINGS ]] || return 1
  curl -fsS -o /dev/null --max-time 2 "$URL/issues.json?limit=1" \
    -H "X-Redmine-API-Key: $(json_get api_key)" 2>/dev/null
}

json_get() {
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$SETTINGS" "$1"
}

print_env() {
  [[ -s $SETTINGS ]] || die "not set up yet (scripts/redmine.sh start)"
  echo "ESCUCHA_REDMINE_BASE_URL=$URL"
  echo "ESCUCHA_REDMINE_TOKEN=$(json_get api_key)"
  echo "ESCUCHA_REDMINE_PROJECT=$(json_get project)"
  echo "ESCUCHA_REDMINE_TRACKER_ID=$(json_get tracker_id)"
  echo "ESCUCHA_REDMINE_NEW_STATUS_ID=$(json_get new_status_id)"
  echo "REDMINE_KEY_FIELD_ID=$(json_get key_field_id)"
  echo "REDMINE_CLOSED_STATUS_ID=$(json_get closed_status_id)"
}

setup_instance() {
  mkdir -p "$INST"/{config,db,files,log,tmp/cache,tmp/pids,tmp/sessions,tmp/sockets,public/plugin_assets}
  [[ -s $INST/config/database.yml ]] || cat >"$INST/config/database.yml" <<EOF
production:
  adapter: sqlite3
  database: $INST/db/redmine.sqlite3
  pool: 5
  timeout: 5000
EOF
  [[ -s $INST/config/secret_key.txt ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$INST/config/secret_key.txt"
  [[ -d /var/lib/redmine ]] || die "/var/lib/redmine missing: is the redmine package configured?"
  local link=/var/lib/redmine/$TENANT
  if [[ ! -L $link || $(readlink "$link") != "$INST" ]]; then
    [[ -w /var/lib/redmine ]] || die "cannot write /var/lib/redmine (run once as root)"
    rm -f "$link"
    ln -s "$INST" "$link"
  fi
}

first_setup() {
  [[ -s $SETTINGS ]] && return 0
  local t0=$SECONDS
  rails_env
  say "first setup: migrate + default data (instance $TENANT)"
  # two processes: models loaded before the migration would miss its columns
  (cd "$RM_ROOT" && bundle exec rake db:migrate && REDMINE_LANG=en bundle exec rake redmine:load_default_data) \
    >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; die "migration failed (log: $LOG)"; }
  /usr/bin/python3 - "$INST/db/redmine.sqlite3" <<'PYEOF' || die "default data missing (log: $LOG)"
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute("select count(*) from trackers").fetchone()[0]
sys.exit(0 if n > 0 else 1)
PYEOF
  cat >"$STATE/setup.rb" <<'EOF'
# REST API on, admin API key, a project with every tracker, a key custom field.
require 'json'
Setting.rest_api_enabled = '1'
admin = User.find_by_login('admin')
admin.update_columns(must_change_passwd: false)
key = admin.api_key
trackers = Tracker.order(:position).to_a
project = Project.find_by_identifier('escucha') ||
  Project.create!(name: 'Escucha', identifier: 'escucha', is_public: true,
                  enabled_module_names: %w[issue_tracking], trackers: trackers)
cf = IssueCustomField.find_by_name('Escucha key') ||
  IssueCustomField.create!(name: 'Escucha key', field_format: 'string', is_for_all: true,
                           is_filter: true, searchable: true, visible: true, trackers: trackers)
tracker = trackers.first
closed = IssueStatus.where(is_closed: true).order(:position).first
File.write(ENV.fetch('OUT'), JSON.generate(
  api_key: key, project: project.identifier, project_id: project.id, tracker_id: tracker.id,
  key_field_id: cf.id, new_status_id: tracker.default_status_id, closed_status_id: closed.id))
EOF
  (cd "$RM_ROOT" && OUT=$SETTINGS.tmp bundle exec rails runner "$STATE/setup.rb") >>"$LOG" 2>&1 \
    || { tail -30 "$LOG" >&2; die "setup failed (log: $LOG)"; }
  mv "$SETTINGS.tmp" "$SETTINGS"
  say "first setup done in $((SECONDS - t0)) s"
}

start() {
  check_packages
  mkdir -p "$STATE"
  if running && answers; then
    say "already running on $URL"
    print_env
    return 0
  fi
  running && stop_server
  setup_instance
  first_setup
  cat >"$STATE/server.rb" <<'EOF'
# WEBrick is loaded before Bundler narrows the load path to the Gemfile's
# gems (Debian's Redmine Gemfile names no web server).
require 'webrick'
ENV['RAILS_ENV'] ||= 'production'
require '/usr/share/redmine/config/environment'
require 'rack/handler/webrick'
Rack::Handler::WEBrick.run(Rails.application, Host: '127.0.0.1', Port: Integer(ENV.fetch('PORT')),
                           AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
EOF
  rails_env
  local t0=$SECONDS
  # exec: the pid is the server's own, and no descriptor of ours stays open in it
  (cd "$RM_ROOT" && PORT=$PORT exec setsid ruby "$STATE/server.rb") >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDF"
  local deadline=$((SECONDS + 120))
  until answers; do
    running || { tail -30 "$LOG" >&2; die "server exited (log: $LOG)"; }
    ((SECONDS < deadline)) || { tail -30 "$LOG" >&2; stop_server; die "no answer on $URL within 120 s"; }
    sleep 0.3
  done
  say "up on $URL in $((SECONDS - t0)) s"
  print_env
}

stop_server() {
  if [[ -s $PIDF ]]; then
    local pid; pid=$(cat "$PIDF")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDF"
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop_server; say "stopped" ;;
  status) if running && answers; then say "running on $URL"; else say "not running"; exit 1; fi ;;
  env) print_env ;;
  *) echo "usage: scripts/redmine.sh start|stop|status|env" >&2; exit 2 ;;
esac
