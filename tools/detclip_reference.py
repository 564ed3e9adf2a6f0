#!/usr/bin/env python3
"""PyTorch reference for pipelined's DetCLIPv2 network (Sources/Detector/DetCLIP), with the same keys, and the parity
fixture the Swift tests read.

Dev-time only (torch, torchvision, safetensors):
    python3 tools/detclip_reference.py   # writes Tests/DetectorTests/Fixtures/detclip{,_training}/{weights,io}.safetensors
                                         # and, with PIPELINED_MINILM_DIR, detclip_concepts/pooled.safetensors

DetCLIPv2's code is not public; this is the network as the paper describes it (ATSS with FPN, the classification
branch turned into region embeddings, a light deformable convolution whose offsets come from the regression branch,
concepts pooled from a text encoder and projected, sigmoid(cos · scale + bias) scores), written with PyTorch's and
torchvision's own ops (nn.GroupNorm, F.interpolate, torchvision.ops.deform_conv2d) so that the Swift code is checked
against them.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d


class ConvModule(nn.Module):
    """mmdetection's naming: `.conv`, and `.gn` when normalized."""

    def __init__(self, cin, cout, k, stride=1, gn_groups=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=gn_groups is None)
        if gn_groups:
            self.gn = nn.GroupNorm(gn_groups, cout)

    def forward(self, x):
        x = self.conv(x)
        return F.relu(self.gn(x)) if hasattr(self, "gn") else x


class FPN(nn.Module):
    def __init__(self, in_channels, channels, levels):
        super().__init__()
        self.lateral_convs = nn.ModuleList(ConvModule(c, channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList([ConvModule(channels, channels, 3) for _ in range(3)] +
                                       [ConvModule(channels, channels, 3, stride=2) for _ in range(levels - 3)])
        self.levels = levels

    def forward(self, feats):
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(2, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        outs = [self.fpn_convs[i](lat[i]) for i in range(3)]
        for i in range(3, self.levels):
            outs.append(self.fpn_convs[i](outs[2] if i == 3 else F.relu(outs[-1])))
        return outs


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))


class RegionHead(nn.Module):
    def __init__(self, channels, stacked, groups, align_dim, levels):
        super().__init__()
        self.cls_convs = nn.ModuleList(ConvModule(channels, channels, 3, gn_groups=groups) for _ in range(stacked))
        self.reg_convs = nn.ModuleList(ConvModule(channels, channels, 3, gn_groups=groups) for _ in range(stacked))
        self.atss_reg = nn.Conv2d(channels, 4, 3, padding=1)
        self.atss_centerness = nn.Conv2d(channels, 1, 3, padding=1)
        self.offset_conv = nn.Conv2d(channels, 18, 3, padding=1)
        self.region_conv = nn.Conv2d(channels, align_dim, 3, padding=1)   # its weight and bias feed deform_conv2d
        self.scales = nn.ModuleList(Scale() for _ in range(levels))

    def forward(self, x, level):
        cls, reg = x, x
        for conv in self.cls_convs:
            cls = conv(cls)
        for conv in self.reg_convs:
            reg = conv(reg)
        region = deform_conv2d(cls, self.offset_conv(reg), self.region_conv.weight, self.region_conv.bias, padding=1)
        n, d = region.shape[0], region.shape[1]
        regions = region.reshape(n, d, -1).transpose(1, 2)                       # (N, H·W, d)
        distances = F.relu(self.atss_reg(reg) * self.scales[level].scale)       # (N, 4, H, W), stride units
        return regions, distances, self.atss_centerness(reg)


class DetCLIPNetwork(nn.Module):
    def __init__(self, in_channels, text_dim, channels=128, levels=5, stacked=2, groups=32, align_dim=128):
        super().__init__()
        self.neck = FPN(in_channels, channels, levels)
        self.bbox_head = RegionHead(channels, stacked, groups, align_dim, levels)
        self.concept_projection = nn.Linear(text_dim, align_dim)
        self.logit_scale = nn.Parameter(torch.tensor([1 / 0.07]))
        self.logit_bias = nn.Parameter(torch.tensor([-math.log((1 - 0.01) / 0.01)]))

    def levels(self, feats):
        return [self.bbox_head(p, l) for l, p in enumerate(self.neck(feats))]

    def concepts(self, pooled):
        return F.normalize(self.concept_projection(pooled), dim=-1)

    def logits(self, regions, concepts):
        return F.normalize(regions, dim=-1) @ concepts.t() * self.logit_scale + self.logit_bias


def randomize(net, gen):
    """Weights that keep activations of order one through every layer, offsets of a pixel or two."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gn.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("scale") and "scales" in name:
                p.copy_(1 + 0.3 * torch.rand(p.shape, generator=gen))
            elif name in ("logit_scale", "logit_bias"):
                p.copy_(torch.tensor([7.5 if name == "logit_scale" else -1.5]))
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                gain = 1.5 if name.startswith("bbox_head.offset_conv") else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * gain / math.sqrt(fan_in))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


# Parameters whose gradients the fixture keeps: one of each kind, first and last layers.
GRADIENTS_KEPT = {"bbox_head.region_conv.weight", "bbox_head.region_conv.bias", "bbox_head.offset_conv.weight",
                  "bbox_head.cls_convs.0.gn.weight", "bbox_head.reg_convs.1.conv.weight", "bbox_head.reg_convs.1.gn.bias",
                  "bbox_head.atss_centerness.weight", "bbox_head.atss_reg.bias", "neck.lateral_convs.0.conv.weight",
                  "neck.fpn_convs.4.conv.bias", "concept_projection.weight", "logit_scale", "logit_bias"}


def fixture(out_dir):
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(2304)
    in_channels, text_dim = [16, 24, 32], 24
    net = DetCLIPNetwork(in_channels, text_dim, channels=32, levels=5, stacked=2, groups=8, align_dim=16).double()
    randomize(net, gen)
    # C3–C5 whose sizes do not halve exactly (27 → 14 → 7), as an 800×1066 image's do not.
    feats = [torch.randn(1, c, h, w, generator=gen, dtype=torch.float64).requires_grad_(True)
             for c, (h, w) in zip(in_channels, [(20, 27), (10, 14), (5, 7)])]
    pooled = torch.randn(3, text_dim, generator=gen, dtype=torch.float64)
    levels = net.levels(feats)
    concepts = net.concepts(pooled)
    regions = torch.cat([r[0] for r, _, _ in levels])
    logits = net.logits(regions, concepts)
    io = {"c3": feats[0][0], "c4": feats[1][0], "c5": feats[2][0], "pooled": pooled, "concepts": concepts, "logits": logits}
    # A loss that reaches every output: Σ output ⊙ a fixed random weight.
    io["loss_weight.logits"] = torch.randn(logits.shape, generator=gen, dtype=torch.float64)
    loss = (logits * io["loss_weight.logits"]).sum()
    for l, (r, d, c) in enumerate(levels):
        io[f"regions.{l}"], io[f"distances.{l}"], io[f"centerness.{l}"] = r[0], d[0], c[0]
        for name, t in (("regions", r[0]), ("distances", d[0]), ("centerness", c[0])):
            weight = torch.randn(t.shape, generator=gen, dtype=torch.float64)
            io[f"loss_weight.{name}.{l}"] = weight
            loss = loss + (t * weight).sum()
    loss.backward()
    io["loss"] = loss.detach().reshape(1)
    for name, p in net.named_parameters():
        if name in GRADIENTS_KEPT or name.startswith("bbox_head.scales"):
            io["grad." + name] = p.grad
    io["grad.c3"] = feats[0].grad[0]
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.detach().float().contiguous() for k, v in net.state_dict().items()}, os.path.join(out_dir, "weights.safetensors"))
    save_file({k: v.detach().float().contiguous() for k, v in io.items()}, os.path.join(out_dir, "io.safetensors"))
    print("wrote", out_dir, "loss", float(loss.detach()))


# ---- Training: ATSS assignment, DetCLIPv2's objectives, a 10-step trajectory ----------------------------------------

def locations(sizes, strides):
    """Each location's centre ((j + ½)·s, (i + ½)·s) and stride, finest level first, row-major."""
    out = []
    for (h, w), s in zip(sizes, strides):
        for i in range(h):
            for j in range(w):
                out.append(((j + 0.5) * s, (i + 0.5) * s, float(s)))
    return out


def box_iou(a, b):
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def atss_assign(locs, ranges, boxes, topk=9, anchor_scale=8.0):
    """mmdetection's ATSSAssigner on one anchor per location (a square of 8 strides): per box the topk nearest
    locations of each level, IoU ≥ mean + std (unbiased) and centre inside the box; ties to the larger IoU."""
    owner, owner_iou = [-1] * len(locs), [-1.0] * len(locs)
    for g, box in enumerate(boxes):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        cand = []
        for r in ranges:
            cand += sorted(r, key=lambda n: ((locs[n][0] - cx) ** 2 + (locs[n][1] - cy) ** 2, n))[:topk]
        ious = []
        for n in cand:
            x, y, s = locs[n]
            half = anchor_scale * s / 2
            ious.append(box_iou((x - half, y - half, x + half, y + half), box))
        t = torch.tensor(ious, dtype=torch.float64)
        threshold = float(t.mean() + (t.std() if len(ious) > 1 else 0))
        for n, v in zip(cand, ious):
            x, y, _ = locs[n]
            if v >= threshold and min(x - box[0], y - box[1], box[2] - x, box[3] - y) > 0.01 and v > owner_iou[n]:
                owner[n], owner_iou[n] = g, v
    return owner


def giou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    union = area_a + area_b - inter
    cw = (torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])).clamp(min=0)
    ch = (torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])).clamp(min=0)
    hull = cw * ch
    return inter / union - (hull - union) / hull


def detection_terms(levels, logits, strides, boxes, concepts):
    """One image's unnormalized L_align (torchvision's sigmoid_focal_loss, α 0.25, γ 2), L_reg (1 − GIoU weighted by
    the centerness target) and L_center (BCE), its positives and its centerness-target sum."""
    from torchvision.ops import sigmoid_focal_loss
    sizes = [tuple(d.shape[2:]) for _, d, _ in levels]
    locs = locations(sizes, strides)
    ranges, start = [], 0
    for h, w in sizes:
        ranges.append(range(start, start + h * w))
        start += h * w
    owner = atss_assign(locs, ranges, boxes)
    labels = torch.zeros_like(logits)
    pos = [n for n, g in enumerate(owner) if g >= 0]
    for n in pos:
        labels[n, concepts[owner[n]]] = 1
    align = sigmoid_focal_loss(logits, labels, alpha=0.25, gamma=2, reduction="sum")
    if not pos:
        return align, None, None, 0, 0.0
    dist = torch.cat([d[0].reshape(4, -1).t() for _, d, _ in levels])[pos]
    signs = torch.tensor([[-locs[n][2], -locs[n][2], locs[n][2], locs[n][2]] for n in pos], dtype=dist.dtype)
    centers = torch.tensor([[locs[n][0], locs[n][1], locs[n][0], locs[n][1]] for n in pos], dtype=dist.dtype)
    gt = torch.tensor([boxes[owner[n]] for n in pos], dtype=dist.dtype)
    weights = []
    for n in pos:
        x, y, s = locs[n]
        b = boxes[owner[n]]
        l, t, r, bt = (x - b[0]) / s, (y - b[1]) / s, (b[2] - x) / s, (b[3] - y) / s
        weights.append(math.sqrt(max(min(l, r) / max(l, r), 0) * max(min(t, bt) / max(t, bt), 0)))
    w = torch.tensor(weights, dtype=dist.dtype)
    reg = ((1 - giou(dist * signs + centers, gt)) * w).sum()
    ctr = torch.cat([c[0].reshape(-1) for _, _, c in levels])[pos]
    center = F.binary_cross_entropy_with_logits(ctr, w, reduction="sum")
    return align, reg, center, len(pos), float(w.sum())


def detection_loss(net, batch, pooled, strides):
    concepts = net.concepts(pooled)
    terms = []
    for feats, boxes, cats in batch:
        levels = net.levels([f[None] for f in feats])
        logits = net.logits(torch.cat([r[0] for r, _, _ in levels]), concepts)
        terms.append(detection_terms(levels, logits, strides, boxes, cats))
    positives = max(1, sum(t[3] for t in terms))
    weight_sum = max(1e-6, sum(t[4] for t in terms))
    loss = sum(t[0] for t in terms) / positives
    regs = [t[1] for t in terms if t[1] is not None]
    if regs:
        loss = loss + 2 * sum(regs) / weight_sum + sum(t[2] for t in terms if t[2] is not None) / positives
    return loss


def alignment_loss(net, batch, pooled, strides, proposals=100, nms_iou=0.5, tau=0.07):
    """DetCLIPv2's word-region contrastive loss on proposals chosen by objectness (best cosine to any phrase of the
    batch), NMS and top-k; each phrase takes its best region; captions against images, InfoNCE text → image."""
    phrases = net.concepts(pooled)
    items = []
    for feats, rows in batch:
        levels = net.levels([f[None] for f in feats])
        regions = F.normalize(torch.cat([r[0] for r, _, _ in levels]), dim=-1)
        with torch.no_grad():
            objectness = (regions @ phrases.t()).max(dim=1).values.tolist()
            boxes = []
            for (_, d, _), s in zip(levels, strides):
                h, w = d.shape[2:]
                for i in range(h):
                    for j in range(w):
                        x, y = (j + 0.5) * s, (i + 0.5) * s
                        boxes.append((x - float(d[0, 0, i, j]) * s, y - float(d[0, 1, i, j]) * s,
                                      x + float(d[0, 2, i, j]) * s, y + float(d[0, 3, i, j]) * s))
            order = sorted(range(len(boxes)), key=lambda n: (-objectness[n], n))[:max(proposals * 10, 1000)]
            kept = []
            for n in order:
                if len(kept) >= proposals:
                    break
                if all(box_iou(boxes[k], boxes[n]) <= nms_iou for k in kept):
                    kept.append(n)
        items.append((regions[kept], F.normalize(phrases[rows], dim=-1)))
    rows = []
    for p, _ in [(it[1], None) for it in items]:
        rows.append(torch.stack([(p @ regions.t()).max(dim=1).values.mean() for regions, _ in items]) / tau)
    logp = torch.log_softmax(torch.stack(rows), dim=1)
    return -logp.diagonal().mean()


def trajectory(out_dir, steps=10, lr=1e-3):
    """Ten AdamW steps (clip 10, weight decay 1e-4) alternating a detection batch of two images and an image–text
    batch of three, from random weights; the loss before each step."""
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(4514)
    in_channels, text_dim, strides = [16, 24, 32], 24, [8, 16, 32, 64, 128]
    net = DetCLIPNetwork(in_channels, text_dim, channels=32, levels=5, stacked=2, groups=8, align_dim=16).double()
    randomize(net, gen)
    state = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()}
    shapes = [[(20, 27), (10, 14), (5, 7)], [(16, 21), (8, 11), (4, 6)], [(12, 12), (6, 6), (3, 3)]]
    images = [[torch.randn(c, h, w, generator=gen, dtype=torch.float64) for c, (h, w) in zip(in_channels, s)] for s in shapes]
    # Boxes in input pixels (stride-8 maps of 20×27 and 16×21 cover 160×216 and 128×168 pixels).
    detection = [(images[0], [[10.0, 20.0, 90.0, 70.0], [100.0, 40.0, 200.0, 150.0]], [0, 2]),
                 (images[1], [[30.0, 30.0, 60.0, 100.0], [5.0, 80.0, 120.0, 125.0]], [1, 0])]
    concepts = torch.randn(4, text_dim, generator=gen, dtype=torch.float64)
    captions = [(images[0], [0, 1]), (images[1], [2, 3]), (images[2], [4])]
    phrases = torch.randn(5, text_dim, generator=gen, dtype=torch.float64)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = detection_loss(net, detection, concepts, strides) if step % 2 == 0 else alignment_loss(net, captions, phrases, strides)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10)
        opt.step()
    io = {"concepts": concepts, "phrases": phrases, "losses": torch.tensor(losses)}
    for k, feats in enumerate(images):
        for name, f in zip(("c3", "c4", "c5"), feats):
            io[f"image{k}.{name}"] = f
    os.makedirs(out_dir, exist_ok=True)
    save_file(state, os.path.join(out_dir, "weights.safetensors"))
    save_file({k: v.float().contiguous() for k, v in io.items()}, os.path.join(out_dir, "io.safetensors"))
    print("wrote", out_dir, "losses", [round(x, 5) for x in losses])


# Concepts as DetCLIPv2 reads them, pooled as sentence-transformers pools MiniLM (mean over every token's last hidden
# state, attention mask all ones for one unpadded text).
CONCEPT_TEXTS = ["red star: a star-shaped figure of a single red color", "cat", "Ping-Pong ball", "a very small striped green ring"]


def concepts_fixture(out_dir, minilm):
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    model = AutoModel.from_pretrained(minilm).eval()
    rows = []
    with torch.no_grad():
        for text in CONCEPT_TEXTS:
            enc = tokenizer(text, return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0]
            rows.append(hidden.mean(dim=0))
    os.makedirs(out_dir, exist_ok=True)
    save_file({"pooled": torch.stack(rows).contiguous()}, os.path.join(out_dir, "pooled.safetensors"))
    print("wrote", out_dir)


if __name__ == "__main__":
    fixtures = os.path.join(os.path.dirname(__file__), "..", "Tests", "DetectorTests", "Fixtures")
    fixture(os.path.join(fixtures, "detclip"))
    trajectory(os.path.join(fixtures, "detclip_training"))
    minilm = os.environ.get("PIPELINED_MINILM_DIR")
    if minilm:
        concepts_fixture(os.path.join(fixtures, "detclip_concepts"), minilm)
