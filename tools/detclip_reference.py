#!/usr/bin/env python3
"""PyTorch reference for pipelined's DetCLIPv2 network (Sources/Detector/DetCLIP), with the same keys, and the parity
fixture the Swift tests read.

Dev-time only (torch, torchvision, safetensors):
    python3 tools/detclip_reference.py            # writes Tests/DetectorTests/Fixtures/detclip/{weights,io}.safetensors

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


if __name__ == "__main__":
    fixture(os.path.join(os.path.dirname(__file__), "..", "Tests", "DetectorTests", "Fixtures", "detclip"))
