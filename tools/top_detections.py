#!/usr/bin/env python3
"""How right a model's first answers are, as a user of the daemon reads them: for each image, the benchmark's whole
vocabulary asked as the daemon asks it (`pipelined detect --vocabulary`: the model's template and strategy, class-wise
NMS), the boxes ranked by score; a detection is right when a labelled object of its category overlaps it with
IoU ≥ 0.5. Prints, per image, how many of
the top 5 / top 10 are right and how many labelled objects the top 10 find, then the totals.

    tools/top_detections.py MODEL_DIR SYNTH_DIR [--split test] [--images 8] [--bin .build/release/pipelined]
"""
import argparse
import json
import os
import subprocess

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("synth")
p.add_argument("--split", default="test")
p.add_argument("--images", type=int, default=8, help="the first N images of the split")
p.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "pipelined"))
a = p.parse_args()

lvis = json.load(open(os.path.join(a.synth, f"lvis_v1_{a.split}.json")))
names = {c["id"]: c["name"] for c in lvis["categories"]}


def iou(u, v):
    w = max(0, min(u[2], v[2]) - max(u[0], v[0]))
    h = max(0, min(u[3], v[3]) - max(u[1], v[1]))
    union = (u[2] - u[0]) * (u[3] - u[1]) + (v[2] - v[0]) * (v[3] - v[1]) - w * h
    return w * h / union if union > 0 else 0


totals = [0, 0, 0, 0]   # right in top 5, right in top 10, objects found, objects
for image in lvis["images"][:a.images]:
    args = [a.bin, "detect", os.path.join(a.synth, "images", image["file_name"]), "--model", a.model, "--threshold", "0",
            "--vocabulary", os.path.join(a.synth, f"lvis_v1_{a.split}.json")]
    found = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)["detections"]
    ranked = sorted(found, key=lambda d: -d["score"])[:10]
    truth = [(names[t["category_id"]], [t["bbox"][0], t["bbox"][1], t["bbox"][0] + t["bbox"][2], t["bbox"][1] + t["bbox"][3]])
             for t in lvis["annotations"] if t["image_id"] == image["id"]]
    right = [any(c == d["phrase"] and iou(b, d["box"]) >= 0.5 for c, b in truth) for d in ranked]
    objects = sum(any(c == d["phrase"] and iou(b, d["box"]) >= 0.5 for d in ranked) for c, b in truth)
    totals = [totals[0] + sum(right[:5]), totals[1] + sum(right), totals[2] + objects, totals[3] + len(truth)]
    print(f"{image['file_name']}: top 5 right {sum(right[:5])}, top 10 right {sum(right)}, objects found {objects} of {len(truth)}")
n = min(a.images, len(lvis["images"]))
print(f"total over {n} images: top 5 right {totals[0]} of {5 * n}, top 10 right {totals[1]} of {10 * n}, "
      f"objects found in the top 10 {totals[2]} of {totals[3]}")
