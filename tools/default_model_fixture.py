#!/usr/bin/env python3
"""Writes the end-to-end fixture of the default model (Tests/EndToEndTests/Fixtures/default-model): one image of the
synthetic benchmark's test split, never trained on, and its labels. The image is chosen by its labels alone — the one
whose largest object is biggest among the first N test images — so the test asks the model about the clearest object
rather than one it happens to get right.

    tools/default_model_fixture.py SYNTH_DIR [N]
"""
import json
import os
import shutil
import sys

synth = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 100
lvis = json.load(open(os.path.join(synth, "lvis_v1_test.json")))
names = {c["id"]: c["name"] for c in lvis["categories"]}
images = lvis["images"][:limit]
ids = {i["id"] for i in images}
by_image = {}
for a in lvis["annotations"]:
    if a["image_id"] in ids:
        by_image.setdefault(a["image_id"], []).append(a)
best = max((a for anns in by_image.values() for a in anns), key=lambda a: (a["bbox"][2] * a["bbox"][3], -a["id"]))
image = next(i for i in images if i["id"] == best["image_id"])
dest = os.path.join(os.path.dirname(__file__), "..", "Tests", "EndToEndTests", "Fixtures", "default-model")
os.makedirs(dest, exist_ok=True)
for old in os.listdir(dest):
    os.remove(os.path.join(dest, old))
name = "synthetic-" + os.path.basename(image["file_name"])
shutil.copy(os.path.join(synth, "images", image["file_name"]), os.path.join(dest, name))
fixture = {"file": name, "source": f"pipelined synth --seed 0, test split, image {image['id']}",
           "objects": [{"category": names[best["category_id"]], "bbox": best["bbox"]}],
           "all_objects": [{"category": names[a["category_id"]], "bbox": a["bbox"]} for a in by_image[image["id"]]]}
json.dump(fixture, open(os.path.join(dest, "image.json"), "w"), indent=1)
print(f"{name}: {fixture['objects'][0]}")
