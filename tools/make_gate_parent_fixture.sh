#!/usr/bin/env bash
# Writes Tests/EndToEndTests/Fixtures/gate-parent: a tiny Lite0 + MiniLM model (d 32, 1 + 1 layers, 8 queries,
# 96/128 px; ~56k trained parameters, 460 KB with its vocab.txt) trained to work on the small synthetic set that
# FineTuneTests generates (`pipelined synth --seed 10 --categories 3 --train 16 --val 2 --test 0 --caption-only 0`).
# It is the parent a fine-tuning run made worse on purpose is measured against: the gate can only reject a worse
# candidate if the parent measurably works (AP > 0 on the held-out labels); a model trained for two steps does not.
# Deterministic (seeded data and weights). ~30 s with a release build; BIN= uses a given binary.
#   tools/make_gate_parent_fixture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/weights_env.sh
. tools/pipelined_bin.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" synth --seed 10 --categories 3 --train 16 --val 2 --test 0 --caption-only 0 --out "$work/data" --quiet > /dev/null
cat > "$work/train.toml" <<TOML
name = "gate-parent"
output = "$work/model"
checkpoint_dir = "$work/checkpoint"
[data]
train = "$work/data/lvis_v1_train.json"
images = "$work/data/images"
image_size = 96
image_max = 128
[model]
hidden = 32
heads = 2
encoder_layers = 1
decoder_layers = 1
feed_forward = 64
queries = 8
contrastive_dim = 16
[train]
batch = 2
max_steps = 8000
epochs = 100000
lr = 1e-3
encoder_alignment = 1.0
TOML
"$bin" train --config "$work/train.toml" --no-register --quiet > "$work/train.log"
"$bin" eval --annotations "$work/data/lvis_v1_train.json" --images "$work/data/images" --model "$work/model" --no-store --quiet | head -3
out=Tests/EndToEndTests/Fixtures/gate-parent
rm -rf "$out"
mkdir -p "$out"
cp "$work/model/manifest.json" "$work/model/model.safetensors" "$work/model/vocab.txt" "$out/"
echo "wrote $out"
