#!/usr/bin/env python3
"""Vocabulary benchmark: seconds per image for LVIS-style querying (every category its own prompt, boxes merged),
Swift against PyTorch CPU on the same machine, same threads, same random-weight network.

The PyTorch side follows the protocol the issue fixes: the backbone once per image, every prompt's text features
computed once beforehand (cached, not timed), 32 prompts per transformer pass (image tokens repeated, text padded to
the longest prompt of the pass with a key-padding mask, as the official batching does), softmax scores
1 − P(no-object), then the best 300 of the image. The Swift side runs the product's code path
(`MDETRDetector.detections(prepared:prompts:settings:)`) through `detector-bench vocab`.

Prompt lengths follow LVIS names under a BPE tokenizer (3–9 tokens with <s> and </s>, mean ≈ 5).

With --strategies K,K,… the Swift side also times the query strategies (issue 16) on the same network and input:
`exact`, `packed` and `shortlist` at each k, over the real LVIS v1 names (Tests/DetectorTests/Fixtures, clean_name)
tokenized with MiniLM's WordPiece vocabulary (RoBERTa's vocab files are not installable here; the ids are valid for
either encoder's random embedding table). --no-torch skips the PyTorch exact run.

Dev-time only:  python3 tools/bench_vocabulary.py [--threads 2] [--classes 1203] [--only r101,default]
                python3 tools/bench_vocabulary.py --only r101 --no-torch --strategies 10,25,50
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

PER_PASS = 32
TOP_N = 300


def prompt_ids(classes, vocab_size):
    """Deterministic token ids per class: <s> name-tokens </s>, lengths 3..9."""
    out = []
    for c in range(classes):
        n = 1 + (c * 7 + c // 5) % 7 if c % 3 else 1 + c % 3
        out.append([0] + [5 + (c * 131 + j * 37) % (vocab_size - 10) for j in range(n)] + [2])
    return out


def torch_side(kind, threads, height, width, classes, out_path, images):
    import torch
    from bench_detector import build, save_for_swift
    from mdetr_reference import sine_position
    torch.set_num_threads(threads)
    model, config = build(kind)
    save_for_swift(model, config, out_path)
    prompts = prompt_ids(classes, config["text"]["vocabSize"])
    with open(out_path + ".prompts.json", "w") as f:
        json.dump(prompts, f)
    d = config["hidden"]
    with torch.inference_mode():
        # Text cache: once per vocabulary, not part of the per-image time.
        t = time.perf_counter()
        cache = []
        for ids in prompts:
            x = torch.tensor([ids])
            h = model.transformer.text_encoder(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            cache.append(model.transformer.resizer(h.transpose(0, 1))[:, 0])       # (L, D)
        text_cache_s = time.perf_counter() - t
        times = []
        for r in range(images + 1):
            g = torch.Generator().manual_seed(r)
            image = torch.rand(1, 3, height, width, generator=g) * 2 - 1
            t = time.perf_counter()
            feat = model.backbone[0].body(image)
            if isinstance(feat, (list, tuple)):
                feat = feat[-1]
            src = model.input_proj(feat).flatten(2).permute(2, 0, 1)               # (N, 1, D)
            mask = torch.zeros(1, feat.shape[2], feat.shape[3], dtype=torch.bool)
            pos = sine_position(mask, d // 2).flatten(2).permute(2, 0, 1)            # (N, 1, D)
            n = src.shape[0]
            all_scores, all_boxes = [], []
            limit = PER_PASS if r == 0 else classes       # the first image only warms up
            for p0 in range(0, min(classes, limit), PER_PASS):
                texts = cache[p0:p0 + PER_PASS]
                b, lmax = len(texts), max(x.shape[0] for x in texts)
                text = torch.zeros(lmax, b, d)
                text_mask = torch.ones(b, lmax, dtype=torch.bool)
                for i, x in enumerate(texts):
                    text[:x.shape[0], i] = x
                    text_mask[i, :x.shape[0]] = False
                s = torch.cat([src.expand(n, b, d), text], 0)
                m = torch.cat([torch.zeros(b, n, dtype=torch.bool), text_mask], 1)
                p = torch.cat([pos.expand(n, b, d), torch.zeros(lmax, b, d)], 0)
                memory = model.transformer.encoder(s, m, p)
                q = model.query_embed.weight.unsqueeze(1).expand(-1, b, -1)
                hs = model.transformer.decoder(torch.zeros_like(q), memory, m, p, q)
                logits = model.class_embed(hs[-1])                                  # (Q, B, 256)
                boxes = model.bbox_embed(hs[-1]).sigmoid()                          # (Q, B, 4)
                all_scores.append(1 - logits.softmax(-1)[..., -1].transpose(0, 1))  # (B, Q)
                all_boxes.append(boxes.transpose(0, 1))
            scores = torch.cat(all_scores).flatten()
            top = scores.topk(min(TOP_N, scores.numel()))
            torch.cat(all_boxes).flatten(0, 1)[top.indices]
            if r > 0:
                times.append(time.perf_counter() - t)
    print(json.dumps({"seconds_per_image": min(times), "all": times, "text_cache_s": text_cache_s,
                      "feature_tokens": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classes", type=int, default=1203)
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--only", default="r101,default")
    ap.add_argument("--size", default="800x1066", help="network input HxW (the eval resize of a 4:3 photo)")
    ap.add_argument("--torch-side", nargs=4)
    ap.add_argument("--strategies", help="K,K,…: also time exact, packed and shortlist (these k) on the LVIS v1 names")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch exact run (only build the network)")
    ap.add_argument("--save-side", nargs=2)
    a = ap.parse_args()
    h, w = map(int, a.size.split("x"))
    if a.torch_side:
        kind, threads, classes, out = a.torch_side
        torch_side(kind, int(threads), h, w, int(classes), out, a.images)
        return
    if a.save_side:
        from bench_detector import build, save_for_swift
        kind, out = a.save_side
        model, config = build(kind)
        save_for_swift(model, config, out)
        return
    subprocess.run(["swift", "build", "-c", "release", "--product", "detector-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    bench = os.path.join(ROOT, ".build", "release", "detector-bench")
    work = tempfile.mkdtemp(prefix="vocabbench.", dir="/tmp")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    print(f"threads {a.threads}; {a.classes} classes, {PER_PASS} prompts per pass, input {h}x{w}, "
          f"{a.images} timed image(s) per side after one warm-up pass")
    if not a.no_torch:
        print("| model | feature tokens | PyTorch s/image | Swift s/image | Swift/PyTorch | peak RSS PyTorch MB | peak RSS Swift MB |")
        print("|---|---|---|---|---|---|---|")
    for kind in a.only.split(","):
        out = os.path.join(work, kind)
        if a.no_torch:
            subprocess.run([sys.executable, __file__, "--save-side", kind, out], env=env, check=True, capture_output=True)
        else:
            tr = json.loads(subprocess.run([sys.executable, __file__, "--size", a.size, "--images", str(a.images),
                                            "--torch-side", kind, str(a.threads), str(a.classes), out],
                                           env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            sr = json.loads(subprocess.run([bench, "vocab", out + ".safetensors", out + ".json", str(h), str(w),
                                            out + ".prompts.json", str(a.images)], env=env, check=True,
                                           capture_output=True, text=True).stdout.strip().splitlines()[-1])
            print(f"| {kind} | {tr['feature_tokens']} | {tr['seconds_per_image']:.2f} | {sr['seconds_per_image']:.2f} | "
                  f"{sr['seconds_per_image'] / tr['seconds_per_image']:.2f} | {tr['peak_rss_mb']:.0f} | {sr['peak_rss_mb']:.0f} |",
                  flush=True)
        if a.strategies:
            strategies(bench, env, kind, out, h, w, a.strategies, a.images)
        for suffix in (".safetensors", ".json", ".prompts.json"):
            if os.path.exists(out + suffix):
                os.remove(out + suffix)


def strategies(bench, env, kind, out, h, w, ks, images):
    categories = os.path.join(ROOT, "Tests", "DetectorTests", "Fixtures", "lvis_v1_categories.json")
    vocab = os.path.join(ROOT, "Sources", "pipelined", "DefaultModel", "vocab.txt")
    r = json.loads(subprocess.run([bench, "strategies", out + ".safetensors", out + ".json", str(h), str(w), categories, vocab,
                                   ks, str(images)], env=env, check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1])
    rows = r["results"]
    exact = next(x for x in rows if x["strategy"]["strategy"] == "exact")
    print(f"\n{kind}: {r['categories']} LVIS categories, {h}x{w}, one image")
    print("| strategy | passes per image | s/image | exact/strategy | text encoding s (once) | captions (max tokens) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for x in rows:
        s = x["strategy"]
        name = s["strategy"] + (f" k={s['shortlist_k']}" if s["strategy"] == "shortlist" else "")
        captions = f"{x['captions']} ({x['caption_tokens_max']})" if "captions" in x else "—"
        print(f"| {name} | {x['passes']} | {x['seconds_per_image']:.2f} | {exact['seconds_per_image'] / x['seconds_per_image']:.1f}× | "
              f"{x['text_encode_s']:.1f} | {captions} | {x['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
