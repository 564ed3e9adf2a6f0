#!/usr/bin/env python3
"""Training-step benchmark, Swift against PyTorch CPU: the default-model configuration (EfficientNet-Lite0 +
MiniLM-L6 frozen, cross-modal transformer d=128, 3+3 layers, FFN 512, 30 queries, contrastive 64), the same random
weights on both sides, the same batch of 8 records, 2 threads each.

A step is what `pipelined train` repeats: transformer forward from the (cached) backbone features and text-encoder
states, Hungarian matching, MDETR's full objective with aux losses, backward, gradient clipping and AdamW. Frozen
backbone and text encoder run once per image / caption on both sides (cached), so they are not in the step. Dropout
is off on both sides. Reports per-step seconds (median of the timed steps after warm-up) and peak RSS.

Dev-time only:  python3 tools/bench_training.py [--steps 10] [--threads 2]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

BATCH = 8


def torch_side(threads, steps, out):
    import torch
    from safetensors.torch import save_file
    from bench_detector import MINILM, lite0_body, save_for_swift
    from make_detector_fixtures import text_encoder
    from make_training_fixtures import criterion, forward_from
    from mdetr_reference import MDETR
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MDETR(lite0_body(), text_encoder(MINILM), MINILM["hidden"], d=128, nhead=8, enc=3, dec=3, ff=512,
                  queries=30, align_dim=64).eval()   # eval: dropout off (parity of work on both sides)
    for n, p in model.named_parameters():
        if n.startswith("backbone") or "text_encoder" in n:
            p.requires_grad_(False)
    save_for_swift(model, None, out)
    config = {"backbone": "efficientnet_lite0", "textEncoderType": "minilm-l6", "text": MINILM, "hidden": 128,
              "heads": 8, "encoderLayers": 3, "decoderLayers": 3, "feedForward": 512, "queries": 30,
              "contrastiveAlign": True, "contrastiveDim": 64, "tokenSlots": 256}
    g = torch.Generator().manual_seed(1)
    # 8 records over 4 images of 320×416 (feature map 10×13×320): two captions per image, 1–3 boxes or none.
    feats = [torch.randn(320, 10, 13, generator=g) for _ in range(4)]
    records = []
    for r in range(BATCH):
        n_boxes = [2, 0, 1, 3, 1, 0, 2, 1][r]
        ids = [101] + [1000 + (r * 37 + j * 11) % 20000 for j in range(2 + r % 4)] + [102]
        boxes = (torch.rand(n_boxes, 4, generator=g) * 0.4 + 0.3).tolist()
        records.append({"image": r // 2, "ids": ids, "boxes": boxes, "tokens": list(range(1, len(ids) - 1))})
    save_file({f"feature{i}": f for i, f in enumerate(feats)}, out + ".inputs.safetensors")
    with open(out + ".json", "w") as f:
        json.dump({"config": config, "records": records}, f)

    with torch.no_grad():   # frozen text encoder: once per caption (cached), as in `pipelined train`
        hidden = [model.transformer.text_encoder(input_ids=torch.tensor([r["ids"]]),
                                                 attention_mask=torch.ones(1, len(r["ids"]), dtype=torch.long)).last_hidden_state
                  for r in records]
    targets = []
    for r in records:
        pmap = torch.zeros(len(r["boxes"]), 256)
        pmap[:, r["tokens"]] = 1
        targets.append({"boxes": torch.tensor(r["boxes"]).reshape(-1, 4), "positive_map": pmap})
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=1e-4)

    times = []
    for s in range(steps + 2):
        t = time.perf_counter()
        opt.zero_grad()
        outs = [forward_from(model, feats[r["image"]][None], h) for r, h in zip(records, hidden)]
        loss, _ = criterion(outs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 0.1)
        opt.step()
        if s >= 2:
            times.append(time.perf_counter() - t)
    print(json.dumps({"step_s": statistics.median(times), "best_s": min(times),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "trainable": sum(p.numel() for p in trainable)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--torch-side", nargs=2)
    a = ap.parse_args()
    if a.torch_side:
        torch_side(int(a.torch_side[0]), a.steps, a.torch_side[1])
        return
    subprocess.run(["swift", "build", "-c", "release", "--product", "detector-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    bench = os.path.join(ROOT, ".build", "release", "detector-bench")
    out = os.path.join(tempfile.mkdtemp(prefix="trainbench.", dir="/tmp"), "default")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    t = json.loads(subprocess.run([sys.executable, __file__, "--steps", str(a.steps), "--torch-side", str(a.threads), out],
                                  env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    s = json.loads(subprocess.run([bench, "train", out + ".safetensors", out + ".json", out + ".inputs.safetensors", str(a.steps)],
                                  env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(f"threads {a.threads}, batch {BATCH} records, {a.steps} timed steps after 2 warm-up; trainable parameters "
          f"PyTorch {t['trainable']}, Swift {s['trainable']}")
    print("| side | step s (median) | best s | peak RSS MB |")
    print("|---|---|---|---|")
    print(f"| PyTorch | {t['step_s']:.3f} | {t['best_s']:.3f} | {t['peak_rss_mb']:.0f} |")
    print(f"| Swift | {s['step_s']:.3f} | {s['best_s']:.3f} | {s['peak_rss_mb']:.0f} |")
    print(f"Swift/PyTorch (median): {s['step_s'] / t['step_s']:.2f}")


if __name__ == "__main__":
    main()
