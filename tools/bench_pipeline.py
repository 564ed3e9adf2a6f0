#!/usr/bin/env python3
"""Benchmark of the non-model path: ingest + decode + record with the detect stage doing nothing.

A burst of N distinct 640x480 JPEGs (crops of scikit-image's sample photos) is renamed into a watched inbox at once;
the release-built harness daemon (real watcher, ingest, queue, decoder and record stage; a detector that finds
nothing) runs on its embedded PostgreSQL with default settings. Reports images per second and per-stage time.

Needs Pillow, numpy and scikit-image (dev-time only):  python3 tools/bench_pipeline.py [--images 1000]
"""
import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def make_images(n, out):
    spec = importlib.util.find_spec("skimage")
    data = os.path.join(spec.submodule_search_locations[0], "data")
    sources = [Image.open(os.path.join(data, f)).convert("RGB") for f in
               ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "hubble_deep_field.jpg")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        scale = 640 / min(src.size) * 1.25
        big = src.resize((int(src.width * scale), int(src.height * scale)))
        x = int(rng.integers(0, big.width - 640 + 1))
        y = int(rng.integers(0, big.height - 480 + 1))
        crop = np.asarray(big.crop((x, y, x + 640, y + 480))).copy()
        crop[0, 0] = [i % 256, (i // 256) % 256, 7]  # distinct bytes for every image
        path = os.path.join(out, f"img-{i:05d}.jpg")
        Image.fromarray(crop).save(path, quality=90)
        paths.append(path)
    return paths


def psql(state, sql):
    url = f"host={state}/postgres/run port=5432 user=pipelined dbname=pipelined"
    return subprocess.run(["psql", url, "-AtX", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "pipelined-harness"], cwd=ROOT, check=True)
    harness = os.path.join(ROOT, ".build", "release", "pipelined-harness")

    work = tempfile.mkdtemp(prefix="plbench.", dir="/tmp")
    os.chmod(work, 0o755)
    state, inbox, staging = (os.path.join(work, d) for d in ("state", "inbox", "staging"))
    for d in (state, inbox, staging):
        os.makedirs(d)
    print(f"generating {args.images} JPEGs (640x480) ...", flush=True)
    paths = make_images(args.images, staging)
    total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    config = os.path.join(work, "bench.toml")
    with open(config, "w") as f:
        f.write(f'state_directory = "{state}"\n[[inbox]]\nname = "bench"\npath = "{inbox}"\n')
    log = open(os.path.join(work, "daemon.log"), "w")
    daemon = subprocess.Popen([harness, "--config", config, "--detector", "none"], stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while "inbox watched" not in open(log.name).read():
            if time.time() > deadline:
                raise SystemExit("daemon did not start:\n" + open(log.name).read())
            time.sleep(0.1)
        t0 = time.time()
        for p in paths:
            os.rename(p, os.path.join(inbox, os.path.basename(p)))
        burst = time.time() - t0
        while True:
            done = int(psql(state, "SELECT count(*) FROM jobs WHERE state = 'done'") or 0)
            if done >= args.images:
                break
            time.sleep(0.2)
        elapsed = time.time() - t0
        ingest_span = float(psql(state, "SELECT extract(epoch FROM max(received_at) - min(received_at)) FROM images"))
        decode = psql(state, "SELECT round(avg((timings_ms->>'decode')::numeric), 2), "
                             "round(percentile_cont(0.95) WITHIN GROUP (ORDER BY (timings_ms->>'decode')::numeric)::numeric, 2), "
                             "round(avg((timings_ms->>'detect')::numeric), 3) FROM provenance")
        latency = psql(state, "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.created_at - i.received_at))::numeric, 2), "
                              "round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM p.created_at - i.received_at))::numeric, 2) "
                              "FROM provenance p JOIN images i ON i.id = p.image_id")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()
    text = open(log.name).read()
    stage_totals = re.search(r'stage_total_ms="?(\[[^\]]*\])', text)
    decode_avg, decode_p95, detect_avg = decode.split("|")
    p50, p95 = latency.split("|")
    print(f"images: {args.images} JPEG 640x480, {total_mb:.1f} MB; burst renamed in {burst:.2f} s")
    print(f"end to end: {elapsed:.2f} s -> {args.images / elapsed:.1f} images/s")
    print(f"ingest (hash + archive + insert): {args.images / max(ingest_span, 1e-9):.1f} files/s "
          f"(first to last received_at {ingest_span:.2f} s)")
    print(f"decode per image: mean {decode_avg} ms, p95 {decode_p95} ms (2 concurrent)")
    print(f"detect (does nothing) per image: mean {detect_avg} ms")
    print(f"stage totals (ms, all images): {stage_totals.group(1) if stage_totals else 'n/a'}")
    print(f"latency received -> recorded: p50 {p50} s, p95 {p95} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
