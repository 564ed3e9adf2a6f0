#!/usr/bin/env bash
# The project's entry points (see README):
#   tools/setup.sh run       install what is missing, build, and start the daemon on its embedded defaults
#   tools/setup.sh test      install what is missing and run the whole test suite against a throwaway PostgreSQL
#   tools/setup.sh install   (root) install the service: binary, default model, unit, user, directories, config
# All are idempotent: installed packages are not reinstalled and an existing build is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in run|test|install) ;; *) echo "usage: $0 run|test|install" >&2; exit 2 ;; esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages: C libraries the Swift targets link (libcurl for `model fetch`, with the CA certificates; Cairo and
# the DejaVu font for `render`), the
# PostgreSQL server for the embedded default, systemd for `systemd-analyze verify`, procps for the unit's
# `/bin/kill` (ExecReload) and the README's `pkill`.
apt_packages="libopenblas-dev libinotifytools0-dev libpq-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev
  libcurl4-openssl-dev libcairo2-dev fonts-dejavu-core ca-certificates postgresql systemd procps pkg-config"
# For the tests only: bubblewrap runs the installed unit under its sandbox where systemd is not PID 1; headless
# Chromium renders the results page as a browser would.
if [ "$mode" = test ]; then apt_packages="$apt_packages bubblewrap chromium"; fi
missing=$(for p in $apt_packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "installing: $missing"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# pip only downloads wheels here (nothing is installed into any Python, so a stock Debian 12 interpreter under
# PEP 668 does): Debian's python3-pip provides it where the interpreter has none.
if ! python3 -m pip --version >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip
fi

# The default model and its pretrained parts where the binary finds them by itself (~/.local/share/pipelined, or
# /usr/share/pipelined as root), checked by sha256; weights_env.sh exports their paths for the tools.
. tools/weights_env.sh

if [ "$mode" = run ]; then
  swift build -c release --product pipelined
  exec .build/release/pipelined run "${@:2}"
fi

if [ "$mode" = install ]; then
  [ "$(id -u)" = 0 ] || { echo "tools/setup.sh install writes to /usr/local, /usr/share, /etc: run it with sudo" >&2; exit 1; }
  # The Swift runtime is linked in (--static-swift-stdlib): the binary needs only Debian's libraries.
  swift build -c release --static-swift-stdlib --product pipelined --scratch-path .build-static
  install -m 0755 .build-static/release/pipelined /usr/local/bin/pipelined
  install -m 0644 systemd/pipelined.service /etc/systemd/system/pipelined.service
  install -D -m 0644 systemd/pipelined.sysusers /usr/lib/sysusers.d/pipelined.conf
  install -D -m 0644 systemd/pipelined.tmpfiles /usr/lib/tmpfiles.d/pipelined.conf
  # An existing configuration is the operator's: never overwritten.
  [ -f /etc/pipelined/pipelined.toml ] || install -D -m 0644 systemd/pipelined.toml /etc/pipelined/pipelined.toml
  systemd-sysusers /usr/lib/sysusers.d/pipelined.conf
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/pipelined.conf
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now pipelined
    echo "pipelined is running: drop images into /srv/pipelined/inbox (members of group pipelined may); journalctl -u pipelined"
  else
    echo "installed; systemd is not running here, so start it where it is: systemctl enable --now pipelined"
  fi
  exit 0
fi

# For the tests only: the real sample photos inside scikit-image's wheel (decoder fixtures), unpacked into a cache.
photos=${XDG_CACHE_HOME:-$HOME/.cache}/pipelined/scikit-image-0.25.2
if [ ! -f "$photos/skimage/data/astronaut.png" ]; then
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" scikit-image==0.25.2
  rm -rf "$photos"
  mkdir -p "$photos"
  python3 - "$wheels"/*.whl "$photos" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith("skimage/data/")])
PY
  rm -rf "$wheels"
fi
export PIPELINED_SAMPLE_PHOTOS="$photos/skimage/data"

# A throwaway PostgreSQL cluster for the tests, on a Unix socket in a short directory.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/pipelined-pg.XXXXXX)
runas=()
if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; runas=(runuser -u postgres --); fi
chmod 755 "$pgdir"
cleanup() { "${runas[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap cleanup EXIT
"${runas[@]}" "$pgbin/initdb" -D "$pgdir/data" -U pipelined -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
"${runas[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -o "-k $pgdir -c listen_addresses= -c fsync=off -c max_connections=200" start >/dev/null
export PIPELINED_TEST_DATABASE_URL="host=$pgdir port=5432 user=pipelined dbname=postgres"

# The service-install test runs `tools/setup.sh install`, which builds the static-stdlib binary: built here first,
# so that build does not compete with the running tests (it is then found up to date).
swift build -c release --static-swift-stdlib --product pipelined --scratch-path .build-static
swift build --build-tests
swift test --skip-build "${@:2}"
