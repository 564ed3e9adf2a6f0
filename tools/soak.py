#!/usr/bin/env python3
"""Soak run of the real daemon (benchmark, not a test; issue 13).

Images arrive in the inbox at a steady rate for --minutes while the daemon is killed with SIGKILL every
--kill-daemon-every seconds and its embedded postmaster every --kill-postmaster-every seconds; this script restarts
the daemon after each death as systemd's Restart=on-failure would (after RestartSec, 5 s). The daemon is the release
`pipelined` with its default model on its embedded PostgreSQL, every image asked the model's whole vocabulary.

Arrivals: synthetic-benchmark JPEGs (`pipelined synth`), each published one of three ways — written under a
temporary name and renamed in, written in place, or written in place by a writer that pauses longer than
settle_seconds half-way — and every 40th a hostile one (truncated, a text file, a 10000×1 PNG, a FIFO, a symbolic
link to /etc/passwd).

Reports: images offered, done, quarantined, refused, lost (must be 0: neither done, quarantined, refused nor still
queued after the drain), run twice (must be 0: more than one provenance row for a job), the longest time from
arrival to done, and the daemon's peak RSS per interval. Standard library only (psql for queries).

    python3 tools/soak.py --work /work/soak --minutes 120 [--bin PATH] [--rate 0.5]
"""
import argparse
import csv
import json
import os
import random
import signal
import struct
import subprocess
import threading
import time
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def png(width, height, rgb=(120, 30, 200)):
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Daemon:
    """Plays systemd: starts the daemon, restarts it 5 s after it dies, samples its RSS."""

    def __init__(self, binary, config, log_path, env):
        self.binary, self.config, self.env = binary, config, env
        self.log = open(log_path, "ab")
        self.proc = None
        self.lock = threading.Lock()
        self.stopping = False
        self.starts = 0
        self.deaths = []

    def start(self):
        with self.lock:
            self.proc = subprocess.Popen([self.binary, "run", "--config", self.config], stdout=self.log,
                                         stderr=subprocess.STDOUT, env=self.env)
            self.starts += 1

    def pid(self):
        with self.lock:
            return self.proc.pid if self.proc and self.proc.poll() is None else None

    def supervise(self):
        while not self.stopping:
            with self.lock:
                code = self.proc.poll()
            if code is not None and not self.stopping:
                self.deaths.append((time.time(), code))
                time.sleep(5)  # RestartSec=5s
                if not self.stopping:
                    self.start()
            time.sleep(0.2)

    def kill9(self):
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
        return pid

    def terminate(self):
        self.stopping = True
        with self.lock:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(120)
                except subprocess.TimeoutExpired:
                    self.proc.kill()


def psql(url, sql):
    out = subprocess.run(["psql", url, "-At", "-F", "\t", "-c", sql], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def running(url):
    """Jobs running at the moment of a kill (the database may itself be down: then unknown)."""
    try:
        return int(psql(url, "SELECT count(*) FROM jobs WHERE state = 'running'")[0][0])
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/pipelined"))
    ap.add_argument("--minutes", type=float, default=120)
    ap.add_argument("--rate", type=float, default=0.5, help="images per second offered")
    ap.add_argument("--kill-daemon-every", type=float, default=600)
    ap.add_argument("--kill-postmaster-every", type=float, default=1500)
    ap.add_argument("--drain-minutes", type=float, default=20)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()

    work = os.path.abspath(args.work)
    state = os.path.join(work, "state")
    inbox = os.path.join(state, "inbox")
    os.makedirs(inbox, exist_ok=True)
    synth = os.path.join(work, "synth")
    if not os.path.isdir(os.path.join(synth, "images", "train")):
        subprocess.run([args.bin, "synth", "--seed", "7", "--out", synth, "--train", "4000", "--val", "0", "--test", "0",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
    sources = sorted(os.path.join(synth, "images", "train", f) for f in os.listdir(os.path.join(synth, "images", "train")))
    config = os.path.join(work, "soak.toml")
    with open(config, "w") as f:
        f.write(f'state_directory = "{state}"\nlog_level = "info"\n\n[[inbox]]\nname = "soak"\npath = "{inbox}"\n\n'
                "[scan]\nsettle_seconds = 2.0\ninterval_seconds = 60.0\n\n[finetune]\nenabled = false\n")
    url = f"host={state}/postgres/run port=5432 user=pipelined dbname=pipelined"

    env = dict(os.environ)
    t0 = time.time()
    daemon = Daemon(args.bin, config, os.path.join(work, "daemon.log"), env)
    daemon.start()
    threading.Thread(target=daemon.supervise, daemon=True).start()

    rss = []  # (t, rss_kb)
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.is_set():
            pid = daemon.pid()
            if pid:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                rss.append((time.time(), int(line.split()[1])))
                except OSError:
                    pass
            stop_sampling.wait(5)
    threading.Thread(target=sample, daemon=True).start()

    rng = random.Random(args.seed)
    offered = {}  # name -> {"at": t, "kind": good|quarantine|refused}
    kills = {"daemon": [], "postmaster": []}
    end = t0 + args.minutes * 60
    next_daemon_kill = t0 + args.kill_daemon_every
    next_pm_kill = t0 + args.kill_postmaster_every
    i = 0
    writers = []
    while time.time() < end:
        now = time.time()
        # Kills land at a random moment between two arrivals, not on the arrival tick (when the last image is
        # usually done): otherwise they would almost never catch a job in flight.
        if now >= next_daemon_kill:
            def kill_daemon():
                pid = daemon.kill9()
                kills["daemon"].append((time.time() - t0, pid, running(url)))
            threading.Timer(rng.uniform(0, 1 / args.rate), kill_daemon).start()
            next_daemon_kill += args.kill_daemon_every
        if now >= next_pm_kill:
            def kill_postmaster():
                try:
                    with open(os.path.join(state, "postgres/data/postmaster.pid")) as f:
                        pm = int(f.readline())
                    os.kill(pm, signal.SIGKILL)
                    kills["postmaster"].append((time.time() - t0, pm))
                except (OSError, ValueError) as e:
                    kills["postmaster"].append((time.time() - t0, f"failed: {e}"))
            threading.Timer(rng.uniform(0, 1 / args.rate), kill_postmaster).start()
            next_pm_kill += args.kill_postmaster_every
        name = f"img-{i:06d}"
        if i % 40 == 39:
            hostile = ["truncated", "text", "thin", "fifo", "symlink"][(i // 40) % 5]
            path = os.path.join(inbox, f"{name}-{hostile}.jpg" if hostile != "thin" else f"{name}-thin.png")
            rel = os.path.basename(path)
            if hostile == "truncated":
                with open(sources[i % len(sources)], "rb") as f:
                    data = f.read()[:300] + struct.pack(">Q", i)
                open(path, "wb").write(data)
                offered[rel] = {"at": now, "kind": "quarantine"}
            elif hostile == "text":
                open(path, "w").write(f"not an image {i}\n")
                offered[rel] = {"at": now, "kind": "quarantine"}
            elif hostile == "thin":
                open(path, "wb").write(png(10000, 1, (i % 256, 7, 9)))
                offered[rel] = {"at": now, "kind": "good"}   # any size the decoder accepts is detected
            elif hostile == "fifo":
                os.mkfifo(path)
                offered[rel] = {"at": now, "kind": "refused"}
            else:
                os.symlink("/etc/passwd", path)
                offered[rel] = {"at": now, "kind": "refused"}
        else:
            with open(sources[i % len(sources)], "rb") as f:
                data = f.read()
            # Unique bytes per arrival (the sources repeat): a JPEG comment segment after SOI.
            tag = f"soak {args.seed} {i}".encode()
            data = data[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + data[2:]
            rel = name + ".jpg"
            path = os.path.join(inbox, rel)
            how = i % 3
            if how == 0:
                tmp = os.path.join(inbox, f".{rel}.tmp")
                open(tmp, "wb").write(data)
                os.rename(tmp, path)
            elif how == 1:
                open(path, "wb").write(data)
            else:
                def slow(path=path, data=data):
                    with open(path, "wb") as f:
                        f.write(data[: len(data) // 2])
                        f.flush()
                        time.sleep(3.5)   # longer than settle_seconds
                        f.write(data[len(data) // 2:])
                t = threading.Thread(target=slow)
                t.start()
                writers.append(t)
            offered[rel] = {"at": now, "kind": "good"}
        i += 1
        time.sleep(max(0, t0 + i / args.rate - time.time()))
    for t in writers:
        t.join()
    offering_ended = time.time()

    # Drain: wait until every good image is done (or the drain budget runs out).
    good = [n for n, o in offered.items() if o["kind"] == "good"]
    drained_at = None
    while time.time() < offering_ended + args.drain_minutes * 60:
        try:
            n = int(psql(url, "SELECT count(*) FROM jobs WHERE state = 'done'")[0][0])
            pending = int(psql(url, "SELECT count(*) FROM jobs WHERE state IN ('available', 'running', 'retryable')")[0][0])
        except Exception:
            time.sleep(5)
            continue
        if n >= len(good) and pending == 0:
            drained_at = time.time()
            break
        time.sleep(5)

    rows = psql(url, """
        SELECT a.original_name, i.status, coalesce(j.state, ''), coalesce(extract(epoch FROM j.finished_at)::text, ''),
               coalesce(j.attempt, 0), (SELECT count(*) FROM provenance p WHERE p.job_id = j.id),
               coalesce(i.quarantine_reason, '')
        FROM image_arrivals a JOIN images i ON i.id = a.image_id LEFT JOIN jobs j ON j.image_id = i.id""")
    refusals = {r[0]: r[1] for r in psql(url, "SELECT original_name, kind FROM inbox_refusals")}
    daemon.terminate()
    stop_sampling.set()

    by_name = {r[0]: r for r in rows}
    done = quarantined = refused = lost = twice = 0
    wrong = []
    latency = []
    attempts = {}
    for name, o in offered.items():
        r = by_name.get(name)
        if o["kind"] == "refused":
            if name in refusals:
                refused += 1
            else:
                lost += 1
                wrong.append((name, "not reported"))
            continue
        if r is None:
            lost += 1
            wrong.append((name, "no arrival recorded"))
            continue
        _, status, jstate, finished, attempt, provenance, reason = r
        if int(provenance) > 1:
            twice += 1
        attempts[int(attempt)] = attempts.get(int(attempt), 0) + 1
        if status == "quarantined":
            quarantined += 1
            if o["kind"] != "quarantine":
                wrong.append((name, f"good image quarantined: {reason}"))
        elif jstate == "done":
            done += 1
            latency.append(float(finished) - o["at"])
        else:
            lost += 1
            wrong.append((name, f"job {jstate}"))

    def peaks(bin_seconds):
        out = {}
        for t, kb in rss:
            k = int((t - t0) // bin_seconds)
            out[k] = max(out.get(k, 0), kb)
        return [(k * bin_seconds / 60, v / 1024) for k, v in sorted(out.items())]

    with open(os.path.join(work, "rss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "rss_kb"])
        for t, kb in rss:
            w.writerow([round(t - t0, 1), kb])
    report = {
        "minutes": args.minutes, "rate_per_s": args.rate,
        "offered": len(offered), "offered_good": len(good),
        "offered_hostile": {k: sum(1 for o in offered.values() if o["kind"] == k) for k in ("quarantine", "refused")},
        "done": done, "quarantined": quarantined, "refused": refused, "lost": lost, "run_twice": twice,
        "attempts_histogram": dict(sorted(attempts.items())),
        "arrival_to_done_s": {"max": max(latency, default=None), "median": sorted(latency)[len(latency) // 2] if latency else None},
        "drained_after_offering_s": drained_at and round(drained_at - offering_ended, 1),
        "daemon_kills": len(kills["daemon"]), "postmaster_kills": len(kills["postmaster"]),
        "jobs_running_at_daemon_kills": [k[2] for k in kills["daemon"]],
        "daemon_starts": daemon.starts, "daemon_deaths": len(daemon.deaths),
        "peak_rss_mb": max((kb for _, kb in rss), default=0) / 1024,
        "peak_rss_mb_per_10_min": [(round(m), round(v, 1)) for m, v in peaks(600)],
        "problems": wrong[:50],
        "postmaster_kills_detail": kills["postmaster"],
    }
    with open(os.path.join(work, "soak-report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
