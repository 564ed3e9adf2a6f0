#!/usr/bin/env bash
# Detection latency on a stream of images with and without a fine-tuning run going (issue 6). Not a test: run it on
# an otherwise idle machine and quote the ratio.
#   tools/bench_finetune_latency.sh WORK_DIR [MODEL_DIR]
# MODEL_DIR defaults to the default model. A throwaway PostgreSQL cluster is started in WORK_DIR. The stream is
# STREAM images (default 20) of the synthetic benchmark, one every INTERVAL seconds (default 3), each asked the
# model's whole vocabulary of 20 categories; phase 2 drops the labels of 60 other images first, so a run trains
# (steps: 100000, it is stopped at the end) while the stream is processed.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: tools/bench_finetune_latency.sh WORK_DIR [MODEL_DIR]}
model=$(realpath "${2:-Sources/pipelined/DefaultModel}")
mkdir -p "$work"
work=$(realpath "$work")
. tools/weights_env.sh
swift build -c release --product pipelined >/dev/null
bin=$PWD/.build/release/pipelined
stream=${STREAM:-20}
interval=${INTERVAL:-3}

# The model's own synthetic benchmark (seed 0) is the default model's: images it was not trained on come from seed 9.
[ -d "$work/synth" ] || "$bin" synth --seed 9 --categories 300 --train 60 --val 0 --test $((2 * stream)) --caption-only 0 --out "$work/synth" --quiet >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
# The stream asks 20 categories; the labels are cut down to the same 20.
lvis = json.load(open(f"{work}/synth/lvis_v1_train.json"))
cats = lvis["categories"][:20]
keep = {c["id"] for c in cats}
for i in lvis["images"]:
    i["file_name"] = "train-" + i["file_name"].split("/")[-1]
    i["neg_category_ids"] = [c for c in i.get("neg_category_ids", []) if c in keep]
    i["not_exhaustive_category_ids"] = [c for c in i.get("not_exhaustive_category_ids", []) if c in keep]
lvis["annotations"] = [a for a in lvis["annotations"] if a["category_id"] in keep]
lvis["categories"] = cats
lvis["vocabulary"] = "bench"
json.dump(lvis, open(f"{work}/labels.json", "w"))
json.dump({"categories": cats}, open(f"{work}/vocabulary.json", "w"))
PY

run_phase() {  # phase name, finetune on/off
  local phase=$1 finetune=$2 state="$work/state-$1"
  rm -rf "$state"; mkdir -p "$state/inbox" "$state/labels"
  cat > "$work/$phase.toml" <<EOF
state_directory = "$state"
[model]
path = "$model"
[[inbox]]
name = "stream"
path = "$state/inbox"
vocabulary = "bench"
[labels]
vocabulary = "bench"
heldout_fraction = 0.2
[finetune]
enabled = $finetune
min_new_images = 1
check_interval_seconds = 1
steps = 100000
EOF
  "$bin" vocab import "$work/vocabulary.json" --name bench --config "$work/$phase.toml" >/dev/null
  "$bin" run --config "$work/$phase.toml" > "$work/$phase.log" 2>&1 &
  local pid=$!
  until grep -q "daemon ready" "$work/$phase.log"; do sleep 1; done
  local db="host=$state/postgres/run user=pipelined dbname=pipelined"
  if [ "$finetune" = true ]; then
    # Labels need their images processed first; then the run starts and the stream is measured while it trains.
    for f in "$work"/synth/images/train/*.jpg; do cp "$f" "$state/inbox/train-$(basename "$f")"; done
    until [ "$(psql "$db" -Atc "SELECT count(*) FROM jobs WHERE state = 'done'")" -ge 60 ]; do sleep 2; done
    cp "$work/labels.json" "$state/labels/labels.json"
    until grep -q "fine-tuning progress" "$work/$phase.log"; do sleep 2; done
  fi
  local k=0
  for f in $(ls "$work"/synth/images/test/*.jpg | head -n "$stream"); do
    cp "$f" "$state/inbox/stream-$k.jpg"; k=$((k + 1)); sleep "$interval"
  done
  until [ "$(psql "$db" -Atc "SELECT count(*) FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'done' AND i.original_name LIKE 'stream-%'")" -ge "$stream" ]; do sleep 2; done
  psql "$db" -Atc "
    SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (p.timings_ms ->> 'detect')::float)::numeric),
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY (p.timings_ms ->> 'detect')::float)::numeric),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - i.received_at) * 1000)::numeric),
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - i.received_at) * 1000)::numeric),
           (SELECT coalesce(max(steps_done), 0) FROM fine_tune_runs)
    FROM provenance p JOIN jobs j ON j.id = p.job_id JOIN images i ON i.id = p.image_id WHERE i.original_name LIKE 'stream-%'" \
    | tr '|' ' ' > "$work/$phase.result"
  kill -TERM "$pid"; wait "$pid" || true
}

run_phase idle false
run_phase training true
read -r d50 d95 e50 e95 _ < "$work/idle.result"
read -r t50 t95 f50 f95 steps < "$work/training.result"
cat <<EOF | tee "$work/latency.md"
Stream of $stream images (one every $interval s, 20 categories each), model $(basename "$model"):

| | detect median ms | detect p95 ms | arrival→done median ms | arrival→done p95 ms |
|---|---|---|---|---|
| no fine-tuning | $d50 | $d95 | $e50 | $e95 |
| fine-tuning running ($steps steps done meanwhile) | $t50 | $t95 | $f50 | $f95 |

Ratio (median detect, training/idle): $(python3 -c "print(f'{$t50 / max($d50, 1):.2f}')")
EOF
