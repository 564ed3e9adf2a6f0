#!/usr/bin/env python3
"""Detector benchmark, Swift against PyTorch CPU on the same machine, same thread count, same random-weight network
(the PyTorch reference in tools/reference builds it; its state dict is handed to the Swift side as safetensors).

Configurations: MDETR ResNet-101 + roberta-base at 800×1066 with a 12-token caption; EfficientNet-B3 + roberta-base
at the same size; the default model (EfficientNet-Lite0 + MiniLM-L6). Reports per-part times, backbone GFLOP/s
against the sgemm ceiling measured in the same run, and peak RSS of each side (separate processes).

Dev-time only:  python3 tools/bench_detector.py [--threads 2] [--repeats 3] [--only r101,b3,default]
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

ROBERTA_BASE = dict(family="roberta", vocabSize=50265, hidden=768, layers=12, heads=12, intermediate=3072,
                    layerNormEps=1e-5, maxPositions=514, typeVocabSize=1, padTokenID=1)
MINILM = dict(family="bert", vocabSize=30522, hidden=384, layers=6, heads=12, intermediate=1536, layerNormEps=1e-12,
              maxPositions=512, typeVocabSize=2, padTokenID=0)


def build(kind):
    import torch
    from mdetr_reference import MDETR, TinyResNet, timm_efficientnet
    from make_detector_fixtures import text_encoder
    torch.manual_seed(0)
    if kind == "r101":
        body, text, name = TinyResNet(True, [3, 4, 23, 3], [64, 128, 256, 512]), ROBERTA_BASE, "resnet101"
    elif kind == "b3":
        body, text, name = timm_efficientnet(1.2, 1.4), ROBERTA_BASE, "timm_tf_efficientnet_b3_ns"
    else:
        body, text, name = lite0_body(), MINILM, "efficientnet_lite0"
    model = MDETR(body, text_encoder(text), text["hidden"], d=256, nhead=8, enc=6, dec=6, ff=2048, queries=100,
                  align_dim=64).eval()
    config = {"backbone": name, "textEncoderType": kind, "text": text, "hidden": 256, "heads": 8, "encoderLayers": 6,
              "decoderLayers": 6, "feedForward": 2048, "queries": 100, "contrastiveAlign": True, "contrastiveDim": 64,
              "tokenSlots": 256}
    return model, config


def lite0_body():
    """EfficientNet-Lite0 in the PyPI package's (lukemelas) layout, as the Swift EfficientNetLite loads it."""
    import torch.nn.functional as F
    from torch import nn

    class ConvBN(nn.Module):
        pass

    class Block(nn.Module):
        def __init__(self, cin, cout, k, s, expand):
            super().__init__()
            mid = cin * expand
            if expand != 1:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
            self._depthwise_conv = nn.Conv2d(mid, mid, k, s, groups=mid, bias=False)
            self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
            self.k, self.s, self.skip = k, s, s == 1 and cin == cout

        def forward(self, x):
            y = x
            if hasattr(self, "_expand_conv"):
                y = F.relu6(self._bn0(self._expand_conv(y)))
            ih, iw = y.shape[2:]
            oh, ow = -(-ih // self.s), -(-iw // self.s)
            ph = max((oh - 1) * self.s + self.k - ih, 0)
            pw = max((ow - 1) * self.s + self.k - iw, 0)
            y = F.pad(y, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.skip else y

    class Lite0(nn.Module):
        layout = [(3, 16, 1), (3, 24, 2), (3, 24, 1), (5, 40, 2), (5, 40, 1), (3, 80, 2), (3, 80, 1), (3, 80, 1),
                  (5, 112, 1), (5, 112, 1), (5, 112, 1), (5, 192, 2), (5, 192, 1), (5, 192, 1), (5, 192, 1),
                  (3, 320, 1)]

        def __init__(self):
            super().__init__()
            self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
            blocks, cin = [], 32
            for i, (k, cout, s) in enumerate(self.layout):
                blocks.append(Block(cin, cout, k, s, 1 if i == 0 else 6))
                cin = cout
            self._blocks = nn.ModuleList(blocks)
            self.num_channels = 320

        def forward(self, x):
            ih, iw = x.shape[2:]
            ph, pw = max((-(-ih // 2) - 1) * 2 + 3 - ih, 0), max((-(-iw // 2) - 1) * 2 + 3 - iw, 0)
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for b in self._blocks:
                x = b(x)
            return x

    return Lite0()


def swift_state_dict(model):
    """The state dict as the Swift side loads it: contiguous copies, without the bookkeeping buffers."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked") and not k.endswith("position_ids")}


def save_for_swift(model, config, out_path):
    """OUT.safetensors with the weights and, given a config, OUT.json with it."""
    from safetensors.torch import save_file
    save_file(swift_state_dict(model), out_path + ".safetensors")
    if config is not None:
        with open(out_path + ".json", "w") as f:
            json.dump(config, f)


def torch_side(kind, threads, height, width, tokens, repeats, out_path):
    """Runs in its own process: builds, saves the weights for Swift, times PyTorch."""
    import torch
    torch.set_num_threads(threads)
    model, config = build(kind)
    save_for_swift(model, config, out_path)
    image = torch.rand(1, 3, height, width) * 2 - 1
    ids = torch.tensor([[0] + [5 + (i * 37) % 1000 for i in range(tokens - 2)] + [2]])
    times = {"backbone": [], "text": [], "transformer": []}
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            model.backbone[0].body(image)
        backbone_flops = fc.get_total_flops()
        for r in range(repeats + 1):
            t = time.perf_counter()
            feat = model.backbone[0].body(image)
            if isinstance(feat, (list, tuple)):
                feat = feat[-1]
            src = model.input_proj(feat)
            t1 = time.perf_counter()
            text = model.transformer.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            text = model.transformer.resizer(text.transpose(0, 1))
            t2 = time.perf_counter()
            from mdetr_reference import sine_position
            mask = torch.zeros(1, feat.shape[2], feat.shape[3], dtype=torch.bool)
            pos = sine_position(mask, 128).flatten(2).permute(2, 0, 1)
            s = torch.cat([src.flatten(2).permute(2, 0, 1), text], 0)
            m = torch.zeros(1, s.shape[0], dtype=torch.bool)
            p = torch.cat([pos, torch.zeros_like(text)], 0)
            memory = model.transformer.encoder(s, m, p)
            q = model.query_embed.weight.unsqueeze(1)
            hs = model.transformer.decoder(torch.zeros_like(q), memory, m, p, q)
            model.class_embed(hs[-1]); model.bbox_embed(hs[-1]).sigmoid()
            t3 = time.perf_counter()
            if r > 0:
                times["backbone"].append(t1 - t); times["text"].append(t2 - t1); times["transformer"].append(t3 - t2)
    # Best of the repeats: on a shared machine the minimum is the least disturbed measurement.
    med = {k: min(v) for k, v in times.items()}
    med["total"] = min(a + b + c for a, b, c in zip(*times.values()))
    med["backbone_gflop"] = backbone_flops / 1e9
    med["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(med))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="r101,b3,default")
    ap.add_argument("--torch-side", nargs=6)
    a = ap.parse_args()
    if a.torch_side:
        kind, threads, h, w, tokens, out = a.torch_side
        torch_side(kind, int(threads), int(h), int(w), int(tokens), a.repeats, out)
        return
    subprocess.run(["swift", "build", "-c", "release", "--product", "detector-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    bench = os.path.join(ROOT, ".build", "release", "detector-bench")
    work = tempfile.mkdtemp(prefix="detbench.", dir="/tmp")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    rows = []
    for kind in a.only.split(","):
        h, w, tokens = 800, 1066, 12
        out = os.path.join(work, kind)
        t, s = None, None
        # Two interleaved rounds (PyTorch, Swift, PyTorch, Swift); each side keeps its best.
        for _ in range(2):
            tr = json.loads(subprocess.run([sys.executable, __file__, "--repeats", str(a.repeats), "--torch-side", kind,
                                            str(a.threads), str(h), str(w), str(tokens), out], env=env, check=True,
                                           capture_output=True, text=True).stdout.strip().splitlines()[-1])
            sr = json.loads(subprocess.run([bench, out + ".safetensors", out + ".json", str(h), str(w), str(tokens),
                                            str(a.repeats)], env=env, check=True, capture_output=True,
                                           text=True).stdout.strip().splitlines()[-1])
            t = tr if t is None else {k: min(v, tr[k]) if k not in ("backbone_gflop",) else v for k, v in t.items()}
            s = sr if s is None else {k: (min(v, sr[k]) if k != "sgemm_gflops" else max(v, sr[k])) for k, v in s.items()}
        weights_mb = os.path.getsize(out + ".safetensors") / 1e6
        rows.append((kind, t, s, weights_mb))
        for f in (out + ".safetensors", out + ".json"):
            os.remove(f)
    print(f"threads {a.threads}; sgemm ceiling measured by the Swift process: {rows[0][2]['sgemm_gflops']:.0f} GFLOP/s")
    print("| model | part | PyTorch s | Swift s | Swift/PyTorch |")
    print("|---|---|---|---|---|")
    for kind, t, s, _ in rows:
        for part in ("backbone", "text", "transformer", "total"):
            print(f"| {kind} | {part} | {t[part]:.3f} | {s[part + '_s']:.3f} | {s[part + '_s'] / t[part]:.2f} |")
    print("| model | backbone GFLOP | PyTorch GFLOP/s | Swift GFLOP/s | Swift % of sgemm | weights MB | peak RSS PyTorch MB | peak RSS Swift MB |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, t, s, wmb in rows:
        g = t["backbone_gflop"]
        print(f"| {kind} | {g:.1f} | {g / t['backbone']:.0f} | {g / s['backbone_s']:.0f} | "
              f"{100 * g / s['backbone_s'] / s['sgemm_gflops']:.0f}% | {wmb:.0f} | {t['peak_rss_mb']:.0f} | {s['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
