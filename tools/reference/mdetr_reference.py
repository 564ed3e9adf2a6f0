"""MDETR in PyTorch with the official key layout (ashkamath/mdetr models/mdetr.py, transformer.py, backbone.py,
position_encoding.py), reduced to what inference needs. Dev-time reference for the Swift port's parity fixtures.

Module names and order follow the official code so `state_dict()` keys are exactly the checkpoints' keys.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """MDETR's own copy: eps 1e-5 hard-coded, four buffers."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        eps = 1e-5
        scale = w * (rv + eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias


class TinyResNet(nn.Module):
    """torchvision's ResNet layout (conv1, bn1, layer1..4 of BasicBlock/Bottleneck, downsample.0/1) with small widths."""

    def __init__(self, bottleneck, blocks, widths):
        super().__init__()
        from torchvision.models.resnet import BasicBlock, Bottleneck
        block = Bottleneck if bottleneck else BasicBlock
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, (n, w) in enumerate(zip(blocks, widths)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, w, n, 1 if i == 0 else 2))
        self.num_channels = self.inplanes

    def _make_layer(self, block, planes, n, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       FrozenBatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, norm_layer=FrozenBatchNorm2d)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, norm_layer=FrozenBatchNorm2d) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def timm_efficientnet(channel_multiplier=0.25, depth_multiplier=0.5):
    """timm's TF EfficientNet features (features_only, out_indices (1,2,3,4)) with BN eps forced to 1e-5, as MDETR's
    replace_bn does; BN and activation stay separate ops (timm's BatchNormAct2d keeps its activation). Returned as
    the body itself so keys read `backbone.0.body.conv_stem…` like the checkpoints'."""
    from timm.models import efficientnet as E
    body = E._gen_efficientnet("tf_efficientnet_b0", channel_multiplier=channel_multiplier,
                               depth_multiplier=depth_multiplier, pretrained=False, features_only=True,
                               out_indices=(1, 2, 3, 4), bn_eps=1e-3, pad_type="same")
    for m in body.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-5
    body.num_channels = body.feature_info.channels()[-1]
    return body


class Backbone(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body
        self.num_channels = body.num_channels


def sine_position(mask, num_pos_feats=128, temperature=10000):
    not_mask = ~mask
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
    px = x[:, :, :, None] / dim_t
    py = y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


class FeatureResizer(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.fc = nn.Linear(c1, c2, bias=True)
        self.layer_norm = nn.LayerNorm(c2, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.dropout(self.layer_norm(self.fc(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d, nhead, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, dropout=0.1)
        self.linear1 = nn.Linear(d, ff)
        self.dropout = nn.Dropout(0.1)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(0.1)
        self.dropout2 = nn.Dropout(0.1)

    def forward(self, src, mask, pos):
        q = k = src + pos
        src2 = self.self_attn(q, k, value=src, key_padding_mask=mask)[0]
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class DecoderLayer(nn.Module):
    def __init__(self, d, nhead, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, dropout=0.1)
        self.cross_attn_image = nn.MultiheadAttention(d, nhead, dropout=0.1)
        self.linear1 = nn.Linear(d, ff)
        self.dropout = nn.Dropout(0.1)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)
        self.norm4 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(0.1)
        self.dropout3 = nn.Dropout(0.1)
        self.dropout4 = nn.Dropout(0.1)

    def forward(self, tgt, memory, memory_mask, pos, query_pos):
        q = k = tgt + query_pos
        tgt2 = self.self_attn(q, k, value=tgt)[0]
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.cross_attn_image(query=tgt + query_pos, key=memory + pos, value=memory,
                                     key_padding_mask=memory_mask)[0]
        tgt = self.norm3(tgt + self.dropout3(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm4(tgt + self.dropout4(tgt2))


class Encoder(nn.Module):
    def __init__(self, d, nhead, ff, n):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d, nhead, ff) for _ in range(n)])

    def forward(self, src, mask, pos):
        for layer in self.layers:
            src = layer(src, mask, pos)
        return src


class Decoder(nn.Module):
    def __init__(self, d, nhead, ff, n):
        super().__init__()
        self.layers = nn.ModuleList([DecoderLayer(d, nhead, ff) for _ in range(n)])
        self.norm = nn.LayerNorm(d)

    def forward(self, tgt, memory, memory_mask, pos, query_pos):
        out = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_mask, pos, query_pos)
            out.append(self.norm(tgt))
        return torch.stack(out)


class Transformer(nn.Module):
    def __init__(self, d, nhead, enc, dec, ff, text_encoder, text_hidden):
        super().__init__()
        self.encoder = Encoder(d, nhead, ff, enc)
        self.decoder = Decoder(d, nhead, ff, dec)
        self.text_encoder = text_encoder
        self.resizer = FeatureResizer(text_hidden, d)


class MLP(nn.Module):
    def __init__(self, i, h, o, n):
        super().__init__()
        dims = [h] * (n - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip([i] + dims, dims + [o]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < len(self.layers) - 1 else layer(x)
        return x


class MDETR(nn.Module):
    def __init__(self, body, text_encoder, text_hidden, d=32, nhead=4, enc=2, dec=2, ff=64, queries=10, align_dim=16):
        super().__init__()
        self.transformer = Transformer(d, nhead, enc, dec, ff, text_encoder, text_hidden)
        self.class_embed = nn.Linear(d, 256)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.query_embed = nn.Embedding(queries, d)
        self.input_proj = nn.Conv2d(body.num_channels, d, kernel_size=1)
        self.backbone = nn.Sequential(Backbone(body))
        self.contrastive_align_projection_image = nn.Linear(d, align_dim)
        self.contrastive_align_projection_text = nn.Linear(d, align_dim)

    def forward(self, image, input_ids):
        """image (1,3,H,W) normalized, input_ids (1,L). Returns the last decoder layer's heads and intermediates."""
        feat = self.backbone[0].body(image)
        if isinstance(feat, (list, tuple)):  # timm features_only: the stride-32 map is the last
            feat = feat[-1]
        mask = torch.zeros(feat.shape[0], feat.shape[2], feat.shape[3], dtype=torch.bool)
        pos = sine_position(mask, self.transformer.encoder.layers[0].linear1.in_features // 2)
        src = self.input_proj(feat).flatten(2).permute(2, 0, 1)
        pos = pos.flatten(2).permute(2, 0, 1)
        text = self.transformer.text_encoder(input_ids=input_ids,
                                             attention_mask=torch.ones_like(input_ids)).last_hidden_state
        text = self.transformer.resizer(text.transpose(0, 1))
        src = torch.cat([src, text], dim=0)
        m = torch.zeros(1, src.shape[0], dtype=torch.bool)
        pos = torch.cat([pos, torch.zeros_like(text)], dim=0)
        memory = self.transformer.encoder(src, m, pos)
        query = self.query_embed.weight.unsqueeze(1)
        hs = self.transformer.decoder(torch.zeros_like(query), memory, m, pos, query)
        last = hs[-1, :, 0]
        text_memory = memory[-text.shape[0]:, 0]
        return {
            "backbone": feat[0],
            "pred_logits": self.class_embed(last),
            "pred_boxes": self.bbox_embed(last).sigmoid(),
            "proj_queries": F.normalize(self.contrastive_align_projection_image(last), p=2, dim=-1),
            "proj_tokens": F.normalize(self.contrastive_align_projection_text(text_memory), p=2, dim=-1),
            "text_resized": text[:, 0],
        }
