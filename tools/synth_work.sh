# Sourced by the tools that train on the synthetic benchmark, with `work` set: makes WORK, installs the pretrained
# weights, sets `bin` (tools/pipelined_bin.sh) and writes the benchmark (`pipelined synth --seed 0`) into WORK/synth
# unless it is there.
mkdir -p "$work"
. tools/weights_env.sh
. tools/pipelined_bin.sh
[ -f "$work/synth/lvis_v1_train.json" ] || "$bin" synth --seed 0 --out "$work/synth" --quiet > /dev/null
