"""Blocks as code outside any model library writes them, on plain torch (no transformers imported, so the
first FakeTensorMode of the process would pay for importing torch._dynamo): the constructs that have no
closed-form shape rule of their own — einsum attention, transposed convolutions, unfolded patches,
top-k routing, a recurrent layer, CBAM attention with FPN upsampling, a style-transfer generator."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class EinsumAttention(nn.Module):
    """A pre-norm transformer block whose attention is written with ``torch.einsum``."""

    def __init__(self, dim: int = 192, heads: int = 3) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).unbind(2)
        attn = torch.einsum("bnhd,bmhd->bhnm", q, k).mul(q.shape[-1] ** -0.5).softmax(-1)
        x = x + self.proj(torch.einsum("bhnm,bmhd->bnhd", attn, v).reshape(b, n, c))
        return x + self.mlp(self.norm2(x))


class EinsumViT(nn.Module):
    def __init__(self, depth: int = 4, dim: int = 192) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 16, 16)
        self.blocks = nn.Sequential(*[EinsumAttention(dim) for _ in range(depth)])
        self.head = nn.Linear(dim, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.patch(x).flatten(2).transpose(1, 2)).mean(1))


class UNetDecoder(nn.Module):
    """Two strided convolutions down, two transposed convolutions up, skips concatenated."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.down1 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.up1 = nn.ConvTranspose2d(4 * width, width, 2, stride=2)
        self.out = nn.Conv2d(2 * width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = F.relu(self.stem(x))
        s1 = F.relu(self.down1(s0))
        s2 = F.relu(self.down2(s1))
        u1 = torch.cat([self.up2(s2), s1], dim=1)
        return self.out(torch.cat([self.up1(u1), s0], dim=1))


class UnfoldPatches(nn.Module):
    """Patches cut with ``F.unfold`` and embedded by a linear layer, then a small MLP head."""

    def __init__(self, patch: int = 16, dim: int = 256) -> None:
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(3 * patch * patch, dim)
        self.mix = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(F.unfold(x, self.patch, stride=self.patch).transpose(1, 2))
        return self.head(self.mix(tokens).amax(1))


class TopKRouter(nn.Module):
    """A mixture-of-experts layer as written by hand: route each token to its top-2 experts."""

    def __init__(self, dim: int = 128, experts: int = 8) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, experts)
        self.experts = nn.Parameter(torch.randn(experts, dim, dim) * dim**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, chosen = self.gate(x).topk(2, dim=-1)
        mixed = torch.einsum("btd,edf->btef", x, self.experts)
        picked = torch.gather(mixed, 2, chosen[..., None].expand(-1, -1, -1, x.shape[-1]))
        return (picked * weights.softmax(-1)[..., None]).sum(2)


class GRUEncoder(nn.Module):
    """An embedding and a bidirectional GRU (ATen's native recurrent stack: per-step products and gates)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.gru = nn.GRU(64, 64, batch_first=True, bidirectional=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gru(self.embed(ids))[0]


class CBAMNeck(nn.Module):
    """A CBAM-attended backbone stage (channel attention from average and max pooling, spatial attention
    from channel mean and max) under an FPN neck (nearest upsampling, lateral 1×1 convolutions)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
        self.down = nn.Conv2d(width, 2 * width, 3, 2, 1)
        self.mlp = nn.Sequential(nn.Conv2d(2 * width, width // 4, 1), nn.ReLU(), nn.Conv2d(width // 4, 2 * width, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.lateral = nn.Conv2d(width, 2 * width, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.smooth = nn.Conv2d(2 * width, 2 * width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.stem(x)
        high = self.down(low)
        gate = torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(high, 1)) + self.mlp(F.adaptive_max_pool2d(high, 1)))
        high = high * gate
        maps = torch.cat([high.mean(1, keepdim=True), high.amax(1, keepdim=True)], 1)
        high = high * torch.sigmoid(self.spatial(maps))
        return self.smooth(self.lateral(low) + self.up(high))


class StyleGenerator(nn.Module):
    """A style-transfer generator: reflection-padded convolutions, instance norm, PReLU, residual blocks,
    a GLU gate, pixel-shuffle upsampling."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, width, 7), nn.InstanceNorm2d(width, affine=True), nn.PReLU()
        )
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, 2, 1), nn.InstanceNorm2d(2 * width, affine=True), nn.PReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.InstanceNorm2d(4 * width), nn.GLU(1))
            for _ in range(3)
        )
        self.up = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width))
        self.tail = nn.Conv2d(width, 3, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(self.head(x))
        for block in self.blocks:
            y = y + block(y)
        return torch.tanh(self.tail(self.up(y)))


#: key → (model maker, our input spec, the peers' real inputs maker)
PLAIN: dict[str, tuple[Any, Any, Any]] = {
    "plain:einsum_vit": (EinsumViT, (1, 3, 224, 224), lambda: (torch.randn(1, 3, 224, 224),)),
    "plain:unet_decoder": (UNetDecoder, (1, 3, 128, 128), lambda: (torch.randn(1, 3, 128, 128),)),
    "plain:unfold_patches": (UnfoldPatches, (1, 3, 224, 224), lambda: (torch.randn(1, 3, 224, 224),)),
    "plain:topk_router": (TopKRouter, (1, 64, 128), lambda: (torch.randn(1, 64, 128),)),
    "plain:gru_encoder": (GRUEncoder, {"ids": ((1, 32), torch.int64)}, lambda: (torch.randint(0, 1000, (1, 32)),)),
    "plain:cbam_fpn": (CBAMNeck, (1, 3, 224, 224), lambda: (torch.randn(1, 3, 224, 224),)),
    "plain:style_generator": (StyleGenerator, (1, 3, 128, 128), lambda: (torch.randn(1, 3, 128, 128),)),
}
