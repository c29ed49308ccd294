"""Small models beyond plain convolutions, written for the corpus tests: attention, window ops,
norms, stochastic depth, recurrent layers, several and keyword inputs, state written in forward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinyViT(nn.Module):
    """Patch embedding, nn.TransformerEncoder (nn.MultiheadAttention inside), class token, head."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 4, patch: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.norm(self.encoder(x))[:, 0])


class WindowAttention(nn.Module):
    """Swin-style: pad, roll, partition into windows, attention with F.scaled_dot_product_attention."""

    def __init__(self, dim: int = 16, window: int = 4, heads: int = 2) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.bias = nn.Parameter(torch.zeros(heads, window * window, window * window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: B, H, W, C
        b, h, w, c = x.shape
        win = self.window
        x = F.pad(self.norm(x), (0, 0, 0, (-w) % win, 0, (-h) % win))
        x = torch.roll(x, shifts=(-win // 2, -win // 2), dims=(1, 2))
        hp, wp = x.shape[1], x.shape[2]
        x = x.view(b, hp // win, win, wp // win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, win * win, c)
        q, k, v = self.qkv(x).reshape(x.shape[0], win * win, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias)
        y = self.proj(y.transpose(1, 2).reshape(x.shape[0], win * win, c))
        return y.mean()


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: identity at inference."""
    if not training or p == 0.0:
        return x
    keep = torch.empty(x.shape[0], 1, 1, 1, device=x.device).bernoulli_(1 - p)
    return x * keep / (1 - p)


class MBConvSE(nn.Module):
    """EfficientNet block: expand, depthwise, squeeze-excite (broadcast mul), project, drop-path, residual."""

    def __init__(self, c: int = 16, expand: int = 4) -> None:
        super().__init__()
        e = c * expand
        self.expand = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(e, e, 3, 1, 1, groups=e, bias=False), nn.BatchNorm2d(e), nn.SiLU())
        self.se_reduce, self.se_expand = nn.Conv2d(e, c // 4, 1), nn.Conv2d(c // 4, e, 1)
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(self.expand(x))
        s = torch.sigmoid(self.se_expand(F.silu(self.se_reduce(F.adaptive_avg_pool2d(y, 1)))))
        y = self.project(y * s)
        return x + drop_path(y, 0.2, self.training)


class TinyEfficientNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.blocks = nn.Sequential(MBConvSE(), MBConvSE())
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, channels-last LayerNorm, MLP with GELU, layer scale, upsample to finish."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.ones(c))
        self.gn = nn.GroupNorm(4, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = (self.gamma * self.fc2(F.gelu(self.fc1(y)))).permute(0, 3, 1, 2)
        y = self.gn(x + y)
        return F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)


class LSTMTagger(nn.Module):
    """Token ids (int64) → embedding → 2-layer LSTM → linear."""

    def __init__(self, vocab: int = 100, dim: int = 16, hidden: int = 24) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(self.embedding(tokens))
        return self.out(y)


class RecurrentMix(nn.Module):
    """Every recurrent layer kind in one model: a bidirectional batch-first GRU, a two-layer ReLU RNN, an
    LSTM with projections (the native stack, not oneDNN) and a decoder of GRU and LSTM cells unrolled over
    three steps from the last frame."""

    def __init__(self, dim: int = 12, hidden: int = 10) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)
        self.rnn = nn.RNN(2 * hidden, hidden, num_layers=2, nonlinearity="relu", batch_first=True)
        self.lstm = nn.LSTM(hidden, hidden, proj_size=4, batch_first=True)
        self.gru_cell = nn.GRUCell(4, hidden)
        self.lstm_cell = nn.LSTMCell(hidden, 6, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        y, _ = self.rnn(y)
        y, (h, _) = self.lstm(y)
        step, state = y[:, -1], None
        outputs = []
        for _ in range(3):
            g = self.gru_cell(step)
            state = self.lstm_cell(g, state)
            outputs.append(state[0])
        return torch.stack(outputs, 1)


class TwoInputs(nn.Module):
    """An image and a boolean mask; the mask has a default of None (a keyword input)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fuse = nn.Conv2d(11, 8, 1)

    def forward(self, image: torch.Tensor, extra: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.fuse(torch.cat([self.conv(image), extra], dim=1))
        if mask is not None:
            y = y.masked_fill(mask, 0.0)
        return y


class Stateful(nn.Module):
    """A forward that writes its module: a counter, an EMA buffer updated in place, and a
    dequantised weight computed from an int8 buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.register_buffer("ema", torch.ones(8))
        self.register_buffer("wq", torch.randint(-8, 8, (8, 8), dtype=torch.int8))
        self.scale = 0.05
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.ema.mul_(0.9).add_(x.mean(0).detach(), alpha=0.1)
        w = self.wq.float() * self.scale
        return self.fc(x) @ w + torch.arange(8, dtype=x.dtype)


class BigAvgPool(nn.Module):
    """An average pool whose kernel exceeds its input (padding keeps the output valid)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=64, stride=64, ceil_mode=True, padding=32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class ConvThenGlobalAttention(nn.Module):
    """A hybrid: a strided conv stem and a 3x3 conv, then attention over every position of the map
    (no positional table, so it runs at any size): convs dominate small inputs, attention large ones."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 4, 4)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.stem(x)).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return F.scaled_dot_product_attention(q, k, v)
