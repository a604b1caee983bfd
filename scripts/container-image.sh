#!/usr/bin/env bash
# Builds the Escucha image (deploy/Dockerfile) with podman, without an image registry:
# the Debian base comes from debootstrap --variant=minbase and `podman import`, from
# Debian's package mirror (docs/operations.md "Containers: what was proven how").
#   scripts/container-image.sh [build]   base (if missing) + escucha image; prints the image name
#   scripts/container-image.sh base      the base image only
#   scripts/container-image.sh run-args  the podman options containers need here (runtime, ulimits)
# Environment:
#   ESCUCHA_IMAGE        image to build (default localhost/escucha:local)
#   ESCUCHA_BASE_IMAGE   base made here (default localhost/escucha-base:bookworm); kept in
#                        podman's storage by tag, so only the first run pays for debootstrap
#   ESCUCHA_BASE_REBUILD=1  make the base again
#   ESCUCHA_DEBIAN_MIRROR   default http://deb.debian.org/debian
# Installs podman, runc and debootstrap (Debian packages) when missing. runc, not crun:
# crun fails on this kernel's cgroup layout. runc must be given explicit nofile/nproc
# limits (podman's defaults are above what this host lets it set).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
IMAGE=${ESCUCHA_IMAGE:-localhost/escucha:local}
BASE=${ESCUCHA_BASE_IMAGE:-localhost/escucha-base:bookworm}
MIRROR=${ESCUCHA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

log() { printf 'container-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# podman run/build options: the OCI runtime and limits it can set here. nofile: our own hard
# limit (runc may not raise it); nproc: at most 32768 (higher values are refused here).
run_args() {
  local nofile nproc
  nofile=$(ulimit -Hn); [[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
  nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  printf '%s\n' --runtime=runc "--ulimit=nofile=$nofile:$nofile" "--ulimit=nproc=$nproc:$nproc"
}

ensure_tools() {
  local missing="" p st
  for p in podman runc debootstrap; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || missing="$missing $p"
  done
  [[ -z $missing ]] && return 0
  log "installing:$missing"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  # --no-install-recommends: no crun (it would become the default runtime)
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
}

build_base() {
  if [[ ${ESCUCHA_BASE_REBUILD:-0} != 1 ]] && podman image exists "$BASE"; then
    log "base $BASE present"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  local root t0=$SECONDS
  root=$(mktemp -d /var/tmp/escucha-base.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" RETURN
  log "debootstrap $SUITE (minbase) from $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$root/fs" "$MIRROR" >"$root/debootstrap.log" 2>&1 ||
    { tail -20 "$root/debootstrap.log" >&2; die "debootstrap failed"; }
  # what the official debian:bookworm-slim lists: updates and security too
  rm -f "$root/fs/etc/apt/sources.list"
  cat >"$root/fs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # as the official slim image: dpkg without fsync and without docs, man pages and
  # translations; apt keeps no downloaded packages in the layers
  cat >"$root/fs/etc/dpkg/dpkg.cfg.d/escucha-slim" <<'EOF'
force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$root/fs/etc/apt/apt.conf.d/escucha-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$root/fs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  rm -rf "$root/fs/usr/share/man/"* "$root/fs/usr/share/info/"* "$root/fs/usr/share/locale/"*
  rm -rf "$root/fs/var/cache/apt/archives/"*.deb "$root/fs/var/lib/apt/lists/"*
  tar -C "$root/fs" --numeric-owner -c . |
    podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  log "base $BASE made in $((SECONDS - t0)) s"
}

build_image() {
  local t0=$SECONDS args
  mapfile -t args < <(run_args)
  log "building $IMAGE from deploy/Dockerfile on $BASE"
  # --network=host: the apt-get steps reach the mirror the host uses; layers are cached, so
  # an unchanged tree rebuilds in seconds
  podman build "${args[@]}" --network=host --layers \
    --build-arg "BASE_IMAGE=$BASE" -f deploy/Dockerfile -t "$IMAGE" "$REPO" >&2
  log "image $IMAGE built in $((SECONDS - t0)) s"
  printf '%s\n' "$IMAGE"
}

case ${1:-build} in
  build) ensure_tools; build_base; build_image ;;
  base) ensure_tools; build_base ;;
  run-args) run_args ;;
  *) die "usage: scripts/container-image.sh [build|base|run-args]" ;;
esac
