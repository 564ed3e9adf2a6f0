#!/usr/bin/env python3
"""Training parity fixture: one batch through a small MDETR (official key layout) and MDETR's objective as the
official code computes it (models/matcher.py HungarianMatcher, models/mdetr.py SetCriterion: soft-token CE with a
binary positive map and eos_coef 0.1, L1, GIoU, contrastive alignment with tau 0.07, aux losses on every decoder
layer; weights 1 / 5 / 2 / 1), then every parameter's gradient, and a 10-step AdamW trajectory (MDETR's param
groups and learning rates, weight decay 1e-4, gradient clipping at norm 0.1).

Writes Tests/DetectorTests/Fixtures/mdetr_training/{weights,gradients,inputs}.safetensors and fixture.json.
Dev-time only:  python3 tools/make_training_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from mdetr_reference import MDETR, TinyResNet, sine_position  # noqa: E402
from bench_detector import swift_state_dict  # noqa: E402
from make_detector_fixtures import randomize_frozen_bn, text_encoder  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "DetectorTests", "Fixtures", "mdetr_training")
TEXT = dict(family="bert", vocabSize=120, hidden=24, layers=2, heads=4, intermediate=48, layerNormEps=1e-12,
            maxPositions=64, typeVocabSize=2, padTokenID=0)


def box_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def giou(a, b):
    """util/box_ops.generalized_box_iou: (N, M)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[:, :2])
    rb = torch.min(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b - inter
    iou = inter / union
    lt = torch.min(a[:, None, :2], b[:, :2])
    rb = torch.max(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[..., 0] * wh[..., 1]
    return iou - (area - union) / area


def forward(model, image, ids):
    """All decoder layers' heads for one image (batch 1), as MDETR's forward with aux_loss."""
    feat = model.backbone[0].body(image)
    text = model.transformer.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    return forward_from(model, feat, text)


def forward_from(model, feat, text_hidden):
    """The same from the backbone's map (1, C, h, w) and the text encoder's states (1, L, H): what training repeats
    when both are frozen and cached."""
    d = model.input_proj.out_channels
    mask = torch.zeros(1, feat.shape[2], feat.shape[3], dtype=torch.bool)
    pos = sine_position(mask, d // 2).flatten(2).permute(2, 0, 1)
    src = model.input_proj(feat).flatten(2).permute(2, 0, 1)
    text = model.transformer.resizer(text_hidden.transpose(0, 1))
    src = torch.cat([src, text], 0)
    m = torch.zeros(1, src.shape[0], dtype=torch.bool)
    pos = torch.cat([pos, torch.zeros_like(text)], 0)
    memory = model.transformer.encoder(src, m, pos)
    query = model.query_embed.weight.unsqueeze(1)
    hs = model.transformer.decoder(torch.zeros_like(query), memory, m, pos, query)[:, :, 0]   # (layers, Q, D)
    text_memory = memory[-text.shape[0]:, 0]
    return {
        "logits": model.class_embed(hs), "boxes": model.bbox_embed(hs).sigmoid(),
        "proj_queries": F.normalize(model.contrastive_align_projection_image(hs), p=2, dim=-1),
        "proj_tokens": F.normalize(model.contrastive_align_projection_text(text_memory), p=2, dim=-1),
    }


def criterion(outputs, targets):
    """SetCriterion over the batch (per-image outputs), every layer; returns (total, terms)."""
    num_boxes = max(1, sum(len(t["boxes"]) for t in targets))
    layers = outputs[0]["logits"].shape[0]
    total, terms = 0, {}
    for layer in range(layers):
        suffix = "" if layer == layers - 1 else f"_{layer}"
        sums = {"loss_ce": 0, "loss_bbox": 0, "loss_giou": 0, "loss_contrastive_align": 0}
        for out, tgt in zip(outputs, targets):
            logits, boxes = out["logits"][layer], out["boxes"][layer]                      # (Q, 256), (Q, 4)
            pmap = tgt["positive_map"]                                                     # (T, 256) binary
            tb = tgt["boxes"]
            with torch.no_grad():
                prob = logits.softmax(-1)
                cost = 5 * torch.cdist(boxes, tb, p=1) - (prob[:, None] * pmap[None]).sum(-1) \
                    - 2 * giou(box_xyxy(boxes), box_xyxy(tb))
                qi, ti = linear_sum_assignment(cost.numpy())
            qi, ti = torch.as_tensor(qi, dtype=torch.long), torch.as_tensor(ti, dtype=torch.long)
            logp = logits.log_softmax(-1)
            target_sim = torch.zeros_like(logp)
            target_sim[:, -1] = 1
            target_sim[qi] = pmap[ti]
            ce = -(logp * target_sim).sum(-1)
            eos = torch.full(ce.shape, 0.1)
            eos[qi] = 1
            sums["loss_ce"] = sums["loss_ce"] + (ce * eos).sum()
            sums["loss_bbox"] = sums["loss_bbox"] + F.l1_loss(boxes[qi], tb[ti], reduction="none").sum()
            sums["loss_giou"] = sums["loss_giou"] + (1 - torch.diag(giou(box_xyxy(boxes[qi]), box_xyxy(tb[ti])))).sum()
            pq, pt = out["proj_queries"][layer], out["proj_tokens"]
            lg = pq @ pt.t() / 0.07                                                        # (Q, L)
            positive = torch.zeros(lg.shape, dtype=torch.bool)
            for q, t in zip(qi.tolist(), ti.tolist()):
                positive[q, pmap[t, :lg.shape[1]] > 0] = True
            pos_logits = -lg.masked_fill(~positive, 0)
            b2t = (pos_logits.sum(1) / (positive.sum(1) + 1e-6) + lg.logsumexp(1)).masked_fill(~positive.any(1), 0).sum()
            t2b = (pos_logits.sum(0) / (positive.sum(0) + 1e-6) + lg.logsumexp(0)).masked_fill(~positive.any(0), 0).sum()
            sums["loss_contrastive_align"] = sums["loss_contrastive_align"] + (b2t + t2b) / 2
        for name, weight in (("loss_ce", 1), ("loss_bbox", 5), ("loss_giou", 2), ("loss_contrastive_align", 1)):
            term = sums[name] / num_boxes
            terms[name + suffix] = float(term.detach())
            total = total + weight * term
    terms["loss"] = float(total)
    return total, terms


def param_groups(model):
    """MDETR's groups: backbone 1e-5, text encoder 5e-5, the rest 1e-4 (weight decay 1e-4 everywhere)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if "backbone" not in n and "text_encoder" not in n], "lr": 1e-4},
        {"params": [p for n, p in named if "backbone" in n], "lr": 1e-5},
        {"params": [p for n, p in named if "text_encoder" in n], "lr": 5e-5},
    ]


def main():
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    model = MDETR(TinyResNet(False, [1, 1, 1, 1], [8, 8, 16, 16]), text_encoder(TEXT), TEXT["hidden"],
                  d=32, nhead=4, enc=2, dec=2, ff=64, queries=10, align_dim=16)
    randomize_frozen_bn(model, gen)
    model.eval()  # dropout off: the parity is of the deterministic graph
    for n, p in model.named_parameters():   # MDETR's backbone rule: only layer2/3/4 train
        if n.startswith("backbone") and not any(s in n for s in ("layer2", "layer3", "layer4")):
            p.requires_grad_(False)
    state = swift_state_dict(model)   # before the optimizer steps change it

    images = [torch.randn(1, 3, 64, 64, generator=gen), torch.randn(1, 3, 64, 64, generator=gen)]
    ids = [torch.tensor([[1, 17, 33, 8, 90, 41, 2]]), torch.tensor([[1, 55, 12, 71, 3, 2]])]
    spans = [[[1, 2], [4, 5]], [[2, 3, 4]]]
    raw_boxes = [[[0.3, 0.4, 0.2, 0.3], [0.7, 0.6, 0.3, 0.25]], [[0.5, 0.5, 0.4, 0.5]]]
    targets = []
    for tokens, bxs in zip(spans, raw_boxes):
        pmap = torch.zeros(len(tokens), 256)
        for i, ts in enumerate(tokens):
            pmap[i, ts] = 1
        targets.append({"boxes": torch.tensor(bxs), "positive_map": pmap})

    outputs = [forward(model, im, i) for im, i in zip(images, ids)]
    total, terms = criterion(outputs, targets)
    total.backward()
    # The text pooler is trainable but unused: it gets no gradient (upstream too).
    grads = {n: p.grad.clone().contiguous() for n, p in model.named_parameters() if p.grad is not None}

    # 10 optimizer steps on the same batch: AdamW with MDETR's groups, gradient clipping at 0.1.
    opt = torch.optim.AdamW(param_groups(model), weight_decay=1e-4)
    trajectory = []
    for _ in range(10):
        opt.zero_grad()
        loss, _ = criterion([forward(model, im, i) for im, i in zip(images, ids)], targets)
        trajectory.append(float(loss))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 0.1)
        opt.step()

    os.makedirs(OUT, exist_ok=True)
    save_file(state, os.path.join(OUT, "weights.safetensors"))
    save_file(grads, os.path.join(OUT, "gradients.safetensors"))
    save_file({f"image{i}": im[0].contiguous() for i, im in enumerate(images)}, os.path.join(OUT, "inputs.safetensors"))
    config = {"backbone": "resnet18", "textEncoderType": "bert-small", "text": TEXT, "hidden": 32, "heads": 4,
              "encoderLayers": 2, "decoderLayers": 2, "feedForward": 64, "queries": 10, "contrastiveAlign": True,
              "contrastiveDim": 16, "tokenSlots": 256}
    fixture = {
        "config": config,
        "image_shape": [3, 64, 64],
        "ids": [i[0].tolist() for i in ids],
        "targets": [{"boxes": b, "tokens": t} for b, t in zip(raw_boxes, spans)],
        "terms": terms, "trajectory": trajectory,
        "grad_scale": max(float(g.abs().max()) for g in grads.values()),
    }
    with open(os.path.join(OUT, "fixture.json"), "w") as f:
        json.dump(fixture, f)
    print("loss", terms["loss"], "params with grads", len(grads), "trajectory", [round(x, 4) for x in trajectory])


if __name__ == "__main__":
    main()
