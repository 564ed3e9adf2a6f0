# Sourced by the set-up and the tools: installs (idempotently) the default model and the pretrained weights it is
# built on where pipelined finds them (tools/install_pretrained.sh), and exports their paths as
# PIPELINED_LITE0_WEIGHTS and PIPELINED_MINILM_DIR for tools that pass them on explicitly.
pipelined_data=$(tools/install_pretrained.sh)
PIPELINED_LITE0_WEIGHTS="$pipelined_data/pretrained/efficientnet-lite0-57934424.pth"
PIPELINED_MINILM_DIR="$pipelined_data/pretrained/all-MiniLM-L6-v2"
export PIPELINED_LITE0_WEIGHTS PIPELINED_MINILM_DIR
