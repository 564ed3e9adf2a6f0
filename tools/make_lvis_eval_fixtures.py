#!/usr/bin/env python3
"""Fixtures for the Swift LVIS evaluator: random LVIS-format ground truth and detections that exercise negatives,
not-exhaustive categories, empty images, crowded images, score ties, zero-area boxes and more than 300 detections per
image, scored by the official `lvis` package (0.5.3) with both protocols:
  standard  — LVISResults(max_dets=300)
  fixed AP  — per category the top-k results over the dataset (stable by descending score, categories in order of
              first appearance), then LVISResults(max_dets=-1)

Dev-time only (lvis, pycocotools, numpy):  python3 tools/make_lvis_eval_fixtures.py
"""
import json
import os
import random

import numpy as np

np.float = float  # lvis 0.5.3 still uses the removed alias
from lvis import LVIS, LVISEval, LVISResults  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DetectorTests", "Fixtures", "lvis_eval")


def make_case(seed, n_images, n_cats, crowded=False, ties=False, good=False):
    rng = random.Random(seed)
    freqs = ["r", "c", "f"]
    cats = [{"id": i + 1, "name": f"cat{i + 1}", "frequency": freqs[i % 3]} for i in range(n_cats)]
    images, anns, results = [], [], []
    ann_id = 1
    for img in range(1, n_images + 1):
        w, h = rng.randint(200, 800), rng.randint(200, 800)
        pos = rng.sample(range(1, n_cats + 1), rng.randint(0, min(4, n_cats)))
        if img % 7 == 0:
            pos = []  # an image without positives
        rest = [c for c in range(1, n_cats + 1) if c not in pos]
        neg = rng.sample(rest, min(len(rest), rng.randint(0, 4)))
        not_ex = [c for c in pos if rng.random() < 0.3]
        images.append({"id": img, "width": w, "height": h, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": not_ex})
        boxes_by_cat = {}
        for c in pos:
            k = rng.randint(1, 25 if crowded else 5)
            for _ in range(k):
                bw = rng.choice([rng.uniform(4, 30), rng.uniform(30, 100), rng.uniform(100, 300)])
                bh = rng.choice([rng.uniform(4, 30), rng.uniform(30, 100), rng.uniform(100, 300)])
                x, y = rng.uniform(0, w - 10), rng.uniform(0, h - 10)
                box = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
                area = box[2] * box[3] * rng.uniform(0.6, 1.0)  # a segment's area is less than its box's
                if rng.random() < 0.03:
                    area = 0.0  # zero-area ground truth is dropped by get_ann_ids
                anns.append({"id": ann_id, "image_id": img, "category_id": c, "bbox": box, "area": area})
                boxes_by_cat.setdefault(c, []).append(box)
                ann_id += 1
        if img % 11 == 0:
            continue  # an image with no detections at all
        n_dets = rng.randint(320, 420) if (crowded and img % 3 == 0) else rng.randint(0, 60)
        for _ in range(n_dets):
            c = rng.randint(1, n_cats)
            if good and boxes_by_cat:
                c = rng.choice(sorted(boxes_by_cat))  # a detector that mostly looks at the right classes
            if c in boxes_by_cat and rng.random() < (0.9 if good else 0.6):
                g = rng.choice(boxes_by_cat[c])
                spread = 0.05 if good else 0.2
                jitter = lambda v, s: v + rng.uniform(-s, s)
                box = [jitter(g[0], g[2] * spread), jitter(g[1], g[3] * spread), max(0.0, jitter(g[2], g[2] * spread)),
                       max(0.0, jitter(g[3], g[3] * spread))]
            else:
                box = [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 200), rng.uniform(0, 200)]
            if rng.random() < 0.02:
                box[2] = 0.0  # zero-area detection
            score = round(rng.random(), 2 if ties else 6)  # coarse scores make many ties
            if good and c in boxes_by_cat:
                score = round(min(1.0, 0.5 + rng.random() * 0.5), 6)
            results.append({"image_id": img, "category_id": c, "bbox": [round(v, 3) for v in box], "score": score})
    gt = {"images": images, "categories": cats, "annotations": anns}
    return gt, results


def run(gt_dict, results, max_dets):
    gt = LVIS.__new__(LVIS)
    import logging
    gt.logger = logging.getLogger("lvis")
    gt.dataset = json.loads(json.dumps(gt_dict))
    gt._create_index()
    dt = LVISResults(gt, json.loads(json.dumps(results)), max_dets=max_dets)
    ev = LVISEval(gt, dt, iou_type="bbox")
    ev.params.max_dets = max_dets
    ev.run()
    return {k: float(v) for k, v in ev.get_results().items()}


def top_k_per_category(results, k):
    order, by_cat = [], {}
    for r in results:
        if r["category_id"] not in by_cat:
            order.append(r["category_id"])
        by_cat.setdefault(r["category_id"], []).append(r)
    return [r for c in order for r in sorted(by_cat[c], key=lambda r: r["score"], reverse=True)[:k]]


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {
        "mixed": make_case(1, 40, 12),
        "crowded_ties": make_case(2, 24, 8, crowded=True, ties=True),
        "sparse": make_case(3, 30, 30),
        "good_detector": make_case(4, 30, 10, good=True),
    }
    for name, (gt, results) in cases.items():
        expected = {"standard": run(gt, results, 300)}
        expected["fixed"] = run(gt, top_k_per_category(results, 40), -1)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump({"gt": gt, "results": results, "fixed_top_k": 40, "expected": expected}, f)
        print(name, len(gt["annotations"]), "annotations", len(results), "results", expected["standard"]["AP"])


if __name__ == "__main__":
    main()
