#!/bin/sh
# Install the Debian packages Escucha needs to build, test and run locally.
# Idempotent: asks dpkg which packages are missing and installs only those, in
# one apt-get call; with everything present it returns in well under a second.
set -eu

PKGS="build-essential pkg-config librdkafka-dev libhiredis-dev libpq-dev
libprotobuf-c-dev protobuf-c-compiler libuv1-dev libhttp-parser-dev libjansson-dev libcjson-dev
libutf8proc-dev libstemmer-dev libxxhash-dev libsodium-dev libcurl4-openssl-dev
libcmocka-dev postgresql redis-server kcat wrk nginx-light clang libclang-rt-14-dev
fasttext python3-sklearn python3-scipy python3-aiosmtpd python3-yaml python3-pytest
python3-confluent-kafka python3-protobuf protobuf-compiler python3-psycopg2
python3-redis python3-requests default-jre-headless maven
redmine redmine-sqlite ruby-webrick valgrind python3-matplotlib curl
prometheus clang-format
chromium chromium-driver python3-selenium"

missing=""
for p in $PKGS; do
  # "install ok installed" is the only state that means the package is usable
  # (half-installed or config-files states need a reinstall).
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
  echo "deps: all packages present"
  exit 0
fi

echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends keeps the install small; the system-wide postgresql
# and redis daemons the packages may start are not used (stack.sh runs its own).
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Redmine (tests/integration/test_actions_redmine.py, scripts/redmine.sh):
# answer its dbconfig questions (SQLite default instance), and let its
# postinst use Debian's ruby-bundler: the newer bundler shipped inside ruby3.1
# does not see the Debian-packaged gems and fails "Could not find racc-….gem".
BV=""
case " $missing " in
  *" redmine "*)
    printf '%s\n' "redmine redmine/current-instances string default" \
      "redmine redmine/instances/default/dbconfig-install boolean true" \
      "redmine redmine/instances/default/database-type select sqlite3" \
      "redmine redmine/instances/default/default-language select en" | $SUDO debconf-set-selections
    BV=$(apt-cache show --no-all-versions ruby-bundler 2>/dev/null | sed -n 's/^Version: \([0-9.]*\).*/\1/p' | head -1)
    ;;
esac
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive ${BV:+BUNDLER_VERSION=$BV} apt-get install -y -q --no-install-recommends $missing
echo "deps: done"
