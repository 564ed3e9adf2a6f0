#!/usr/bin/env bash
# Issue 18's vocabulary benchmark (Tests/Benchmarks/DetCLIPBenchmark.swift): scikit-image's astronaut photo scaled to
# 800×1066, the 1,203 LVIS v1 names; one-pass DetCLIPv2 at 1 … 10,000 concepts against MDETR's exact per-class
# querying of the same backbone and text encoder (the default install's grounding model, DefaultModel/grounding).
# Optimized build, 2 threads.
#   tools/bench_detclip.sh [REPEATS]      (needs tools/setup.sh's weights and a Python with Pillow for the photo)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/weights_env.sh
python=${PYTHON:-python3}
photo=$(mktemp --suffix .ppm)
trap 'rm -f "$photo"' EXIT
photos=${PIPELINED_SAMPLE_PHOTOS:-$HOME/.cache/pipelined/scikit-image-0.25.2/skimage/data}
"$python" - "$photos/astronaut.png" "$photo" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], format="PPM")
PY
swift build -c release --product detector-bench > /dev/null
OPENBLAS_NUM_THREADS=${THREADS:-2} .build/release/detector-bench detclip "$PIPELINED_LITE0_WEIGHTS" "$PIPELINED_MINILM_DIR" \
  Tests/DetectorTests/Fixtures/lvis_v1_categories.json Sources/pipelined/DefaultModel/grounding "$photo" "${1:-2}"
