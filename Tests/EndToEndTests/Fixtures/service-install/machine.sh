#!/usr/bin/env bash
# A throwaway copy of this machine for Tests/EndToEndTests/ServiceInstallTests.swift: run inside
# `unshare --mount --pid --fork --mount-proc`, it lays overlays (on a tmpfs) over /usr /etc /var /srv /root /home /run, so
# what the README's install writes there vanishes with the namespace. Then, as on a new machine:
#   1. the README's install block, verbatim (WORK/install.sh), as root with USER=alice;
#   2. the installed unit started without systemd, under its own sandbox (WORK/sandbox.args: the bwrap + setpriv
#      command line the test derived from the unit's directives), its log in WORK/daemon.log;
#   3. the README's use block (WORK/use.sh): its `cp` line run by alice from her home, its psql line as root;
#   4. `model fetch --activate` as the service's user (WORK/catalog.json), and the running daemon switching to it;
#   5. SIGTERM to the daemon, as `systemctl stop` sends it (KillMode=mixed), and its exit status.
# Arguments: REPO WORK. WORK holds the files above and photo.jpg (readable by the pipelined user).
set -euo pipefail
repo=$1 work=$2

mkdir -p "$work/ovl"
mount -t tmpfs tmpfs "$work/ovl"
for d in /usr /etc /var /srv /root /home /run; do
  mkdir -p "$work/ovl/$d.upper" "$work/ovl/$d.work"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$work/ovl/$d.upper,workdir=$work/ovl/$d.work" "$d"
done

# A new machine: nothing of an earlier install on this one (the overlays hide the removal from it). The pretrained
# parts in /usr/share/pipelined stay: `setup.sh test` put them there, and the install checks them by sha256.
rm -rf /var/lib/pipelined /srv/pipelined /etc/pipelined /usr/local/bin/pipelined /etc/systemd/system/pipelined.service
# Whatever this host runs as PID 1, the install must not talk to it (systemctl reaches a running systemd over D-Bus,
# outside the overlays): setup.sh asks systemd only when this directory exists.
rm -rf /run/systemd/system

# Where the unit's sandbox gets the test's stand-in for systemd's notification socket (as systemd's is in /run).
mkdir -p /run/notify

# The README says `sudo`; this machine runs the test as root and may have no sudo.
if ! command -v sudo >/dev/null; then
  sudo() { if [ "${1:-}" = -u ]; then local u=$2; shift 2; runuser -u "$u" -- "$@"; else "$@"; fi; }
  export -f sudo
fi
id alice >/dev/null 2>&1 || useradd --create-home alice

echo "== install"
cd "$repo"
USER=alice bash -euo pipefail "$work/install.sh"

echo "== start"
mapfile -t sandbox < "$work/sandbox.args"
"${sandbox[@]}" > "$work/daemon.log" 2>&1 &
bwrap_pid=$!
ready=0
for _ in $(seq 1 180); do
  if grep -q "daemon ready" "$work/daemon.log"; then ready=1; break; fi
  kill -0 "$bwrap_pid" 2>/dev/null || break
  sleep 1
done
[ "$ready" = 1 ] || { echo "== not ready"; exit 1; }
daemon=$(pgrep -f -x "/usr/local/bin/pipelined run --config /etc/pipelined/pipelined.toml" | head -n 1)
echo "== daemon $(grep -E '^(Uid|Gid|CapEff|CapBnd|NoNewPrivs):' "/proc/$daemon/status" | tr -s '\t' ' ' | paste -sd ';')"
echo "== pipelined uid $(id -u pipelined)"

echo "== use"
cp "$work/photo.jpg" /home/alice/photo.jpg
chown alice: /home/alice/photo.jpg
(cd /home/alice && runuser -u alice -- bash -euo pipefail -c "$(grep '^cp ' "$work/use.sh")")
done_jobs=0
for _ in $(seq 1 300); do
  done_jobs=$(runuser -u pipelined -- psql "host=/var/lib/pipelined/postgres/run user=pipelined dbname=pipelined" -Atc \
    "SELECT count(*) FROM jobs WHERE state = 'done'" 2>/dev/null || echo 0)
  [ "$done_jobs" -ge 1 ] && break
  sleep 1
done
echo "== done jobs $done_jobs"
bash -euo pipefail -c "$(grep -v '^cp ' "$work/use.sh")"

# The README's way to give the service a real model, as its user, against the test's loopback catalog.
echo "== fetch"
sudo -u pipelined pipelined model fetch tiny --catalog "$work/catalog.json" --activate --config /etc/pipelined/pipelined.toml
for _ in $(seq 1 120); do grep -q "model switched" "$work/daemon.log" && break; sleep 1; done
grep -o "model switched.*" "$work/daemon.log" || true

echo "== stop"
kill -TERM "$daemon"
status=0
wait "$bwrap_pid" || status=$?
echo "== exit $status"
