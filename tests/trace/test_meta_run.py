"""Nodes without a closed-form rule run on meta tensors (``trace.meta_run``) are held to FakeTensorMode:
every node's output geometry and aten calls as a run with every node faked records them; the nodes the
meta run can take need no FakeTensorMode at all; a node it must refuse still runs faked, correctly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costmodel.inputs import TensorSpec
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.meta_run import imports_dynamo, takes_meta_route
from tests.fresh_process import fresh_process_output
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes


class Lambda(nn.Module):
    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.fn(*xs)


class Einsums(nn.Module):
    """Attention, an outer product with broadcasting, a contraction over two labels, an ellipsis."""

    def forward(self, x: torch.Tensor) -> Any:
        q = x.flatten(2).transpose(1, 2)  # (b, n, c), a non-contiguous operand
        scores = torch.einsum("bnc,bmc->bnm", q, q)
        mixed = torch.einsum("bnm,bmc->bnc", scores.softmax(-1), q)
        outer = torch.einsum("bi,bj->bij", x.mean((2, 3)), x.amax((2, 3)))
        traced = torch.einsum("bchw,bchw->b", x, x)
        ellipsis = torch.einsum("...hw,...wk->...hk", x, x)
        return mixed, outer, traced, ellipsis


class Recurrent(nn.Module):
    """Recurrent layers run faked: on CPU their C++ kernel projects all time steps at once, on meta step
    by step (a meta run would record another path)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(12, 5)

    def forward(self, x: torch.Tensor) -> Any:
        out, (h, c) = self.lstm(x)
        again, last = self.gru(out.transpose(0, 1))
        return again, last, h, c


class Upsampling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up2d = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.up1d = nn.ConvTranspose1d(4, 2, 4, stride=2, groups=2)
        self.up3d = nn.ConvTranspose3d(4, 2, (1, 3, 3), stride=(1, 2, 1), padding=(0, 1, 1), dilation=(1, 1, 2))

    def forward(self, x: torch.Tensor) -> Any:
        return self.up2d(x), self.up1d(x.flatten(2)), self.up3d(x[:, :, None])


class Reductions(nn.Module):
    """Reductions with indices, sorting, scans and gathers, as models write them."""

    def forward(self, x: torch.Tensor) -> Any:
        values, indices = x.max(dim=1)
        low = torch.min(x, dim=-1, keepdim=True)
        top = x.flatten(1).topk(5, dim=-1)
        bottom = torch.topk(x, 2, dim=1, largest=False, sorted=False)
        peaks = x.amax((1, -1)) + x.amin(2, keepdim=True).sum() + x.amax()
        ordered, order = torch.sort(x, dim=2, descending=True)
        picked = torch.gather(x, 1, indices.unsqueeze(1))
        chosen = x.index_select(1, torch.arange(2, device=x.device))
        return values, low.values, top.indices, bottom, peaks, ordered, order, picked, chosen, x.cumsum(-1), x.argmax(1)


class Rearrangements(nn.Module):
    """Patch extraction and folding, rolls, flips, triangles, pixel shuffles, repeats, masks, factories,
    tensor splits (slices by torch's decomposition), softmax of a transposed tensor, distances of strided rows."""

    def forward(self, x: torch.Tensor) -> Any:
        patches = F.unfold(x, kernel_size=2, stride=2)
        spread = F.unfold(x, kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
        folded = F.fold(patches, output_size=x.shape[-2:], kernel_size=2, stride=2)
        padded = F.fold(F.unfold(x, 3, padding=1), x.shape[-2:], 3, padding=1)
        rolled = torch.roll(x, shifts=(1, -2), dims=(2, 3))
        flipped = x.flip(-1)
        lower = torch.tril(x) + x.triu(1)
        shuffled = F.pixel_shuffle(x, 2)
        repeated = x.repeat(1, 2, 1, 1)
        mask = torch.ones(x.shape[-2:], dtype=torch.bool, device=x.device).triu(1)
        filled = x.masked_fill(mask, 0.0)
        zeros = x.new_zeros(3, 4) + torch.zeros(3, 4, device=x.device)
        sampled = F.grid_sample(x, torch.zeros(x.shape[0], 3, 5, 2, device=x.device), align_corners=False)
        split = x.tensor_split(3, 1), x.transpose(1, 3).tensor_split([1, 3], 2)
        rows = x.flatten(2).transpose(1, 2)
        attention = rows.softmax(1), F.log_softmax(x.transpose(1, 3), 1), F.pairwise_distance(rows[0], rows[1])
        return (
            folded,
            padded,
            spread,
            rolled,
            flipped,
            lower,
            shuffled,
            repeated,
            filled,
            zeros,
            sampled,
            torch.cdist(x, x),
            split,
            attention,
        )


class Activations(nn.Module):
    """Activations and per-element math without a shape rule, sorting, flips, triangles and pixel
    shuffles, on row-major, channels-last and permuted inputs, in place too."""

    def forward(self, x: torch.Tensor) -> Any:
        out = []
        for y in (x, x.contiguous(memory_format=torch.channels_last), x.transpose(1, 3)):
            out += [F.elu(y), F.leaky_relu(y, 0.2), F.softplus(y, beta=2.0), F.mish(y), F.hardtanh(y, -2.0, 2.0)]
            out += [y.log_softmax(-1), torch.erfinv(y.tanh() * 0.5), y.sort(-1).values, y.argsort(1), y.flip(-1), y.tril(-1)]
        out += [F.pixel_shuffle(x, 2), F.elu(x.clone(), inplace=True), x.clone().clamp_(0, 1), x.float().pow(3)]
        return out


class Statistics(nn.Module):
    """Reductions, norms and normalisations without a shape rule, and element-wise math of several tensors
    (broadcast, in place), on row-major and permuted inputs."""

    def forward(self, x: torch.Tensor) -> Any:
        out = []
        for y in (x, x.transpose(1, 3)):
            out += [y.std(-1), y.var((1, 2), keepdim=True, correction=0), y.norm(dim=-1), F.normalize(y, dim=1)]
            out += [y.logsumexp(-1), F.leaky_relu(y, 0.2), y.mean((0, 2)), y.sum(-1, keepdim=True)]
            col = y.mean(1, keepdim=True)
            out += [torch.hypot(y, col), torch.atan2(col, y), torch.lerp(y, col, 0.3), torch.copysign(y, col)]
        out += [F.instance_norm(x), F.prelu(x, torch.full((8,), 0.25, device=x.device)), x.clone().mul_(x.amax(1, keepdim=True))]
        return out


class Pooling(nn.Module):
    """Pooling without a shape rule as models write it: 1-d pooling (an unsqueezed 2-d kernel), max pooling
    with indices, adaptive max pooling (CBAM's channel attention), area resampling, local response norm
    (3-d average pooling), pixel unshuffling; on row-major and channels-last maps."""

    def __init__(self) -> None:
        super().__init__()
        self.attend = nn.AdaptiveMaxPool2d(1)

    def forward(self, x: torch.Tensor) -> Any:
        out = []
        for y in (x, x.contiguous(memory_format=torch.channels_last)):
            pooled, where = F.max_pool2d(y, 3, 2, 1, return_indices=True)
            out.append(F.max_unpool2d(pooled, where, 3, 2, 1, output_size=y.shape[-2:]))  # SegNet's decoder
            out += [pooled, where, self.attend(y), F.adaptive_max_pool2d(y, (3, 2)), F.interpolate(y, size=(3, 3), mode="area")]
            out += [F.local_response_norm(y, 3), F.pixel_unshuffle(y, 2), F.avg_pool2d(y, 3, 1, 1, divisor_override=2)]
        row = x.flatten(2)
        out += [
            F.max_pool1d(row, 3),
            F.max_pool1d(row, 4, 3, 1, ceil_mode=True),
            F.avg_pool1d(row, 3, 2, count_include_pad=False),
        ]
        out += [F.adaptive_max_pool1d(row, 5), F.avg_pool3d(x[:, None], (2, 2, 2))]
        return out


class NormsAndGates(nn.Module):
    """Instance norm (affine, with running statistics), batch norm on batch statistics, PReLU per channel,
    GLU, grid sampling at a grid the forward makes, var_mean, cumprod and repeat; constants the forward
    makes as operands (a kernel, an index), one written in place, a number written into a slice (both run
    faked); tensors made like others (``new_zeros``, ``zeros_like``, ``empty_like`` of a permuted tensor keeps its layout)."""

    def __init__(self) -> None:
        super().__init__()
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.tracked = nn.InstanceNorm2d(4, track_running_stats=True)
        self.prelu = nn.PReLU(4)

    def forward(self, x: torch.Tensor) -> Any:
        grid = torch.zeros(2, 3, 5, 2)  # a constant: the batch is 2
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True)
        out = [self.inorm(x), self.tracked(x), self.prelu(x), F.glu(x, 1), F.grid_sample(x, grid, align_corners=False)]
        out += [var, mean, torch.cumprod(x, -1), x.repeat(1, 2, 1, 1), F.batch_norm(x, None, None, training=True)]
        out += [F.conv2d(x, torch.ones(2, 4, 1, 1)), x.index_select(1, torch.tensor([0, 2])), torch.std_mean(x, 1)[0]]
        out += [torch.zeros(6).lerp_(x[0, 0, 0], 0.5), F.instance_norm(x.contiguous(memory_format=torch.channels_last))]
        out += [x.new_zeros(3, 4), torch.zeros_like(x), torch.empty_like(x.transpose(1, 3))]
        out += [torch.ones_like(x, dtype=torch.int64), F.rrelu(x), F.logsigmoid(x)]
        points = x.flatten(2).transpose(1, 2)  # 36 points: cdist's matrix-product kernel
        out += [F.channel_shuffle(x, 2), torch.cdist(points, points), x.argmin(-1, keepdim=True)]
        filled = x.new_zeros(2, 3)
        filled[..., 0] = 2.0  # a number written: torch fills it in on the CPU, copies a tensor of it on meta
        return [*out, filled]


class SliceWrites(nn.Module):
    """A scan writing each step into a slice of a buffer it made (``out[:, t] = h``), a broadcast write, the
    functional scatters (``slice_scatter``, ``diagonal_scatter``), a copy into a view."""

    def forward(self, x: torch.Tensor) -> Any:
        out = torch.zeros_like(x)
        h = x[:, 0]
        for t in range(x.shape[1]):
            h = h * 0.5 + x[:, t]
            out[:, t] = h
        grid = x.new_zeros(x.shape[0], 3, x.shape[-1])
        grid[:, 1:] = x.mean(1, keepdim=True)
        flat = x[:, 0]
        scattered = torch.slice_scatter(x, flat[:, None], dim=1, start=1, end=2)
        square = x[:, :4, :4]
        diagonal = torch.diagonal_scatter(square, square.diagonal(dim1=1, dim2=2), dim1=1, dim2=2)
        out.narrow(2, 0, 2).copy_(x[..., 2:4])
        return out, grid, scattered, diagonal


CASES: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    "slice_writes": (SliceWrites, (2, 5, 6)),
    "statistics": (Statistics, (2, 8, 6, 4)),
    "activations": (Activations, (2, 8, 6, 4)),
    "einsums": (Einsums, (2, 4, 6, 6)),
    "recurrent": (Recurrent, (3, 5, 8)),
    "upsampling": (Upsampling, (2, 4, 5, 5)),
    "reductions": (Reductions, (2, 4, 6, 6)),
    "pooling": (Pooling, (2, 4, 6, 6)),
    "norms_and_gates": (NormsAndGates, (2, 4, 6, 6)),
    "bilinear": (lambda: nn.Bilinear(8, 6, 4), [(3, 8), (3, 6)]),
    "rearrangements": (Rearrangements, (2, 4, 6, 6)),
    "embedding_bag": (lambda: nn.EmbeddingBag(10, 4, mode="mean"), {"input": TensorSpec((3, 5), torch.int64)}),
    "elu": (lambda: Lambda(lambda x: nn.ELU()(x) + F.gelu(x, approximate="tanh")), (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_meta_runs_record_what_fake_tensors_record(name: str) -> None:
    make, inputs = CASES[name]
    assert_rules_record_what_fake_records(make().eval(), inputs)


@pytest.mark.parametrize(
    "name", ["einsums", "upsampling", "reductions", "activations", "statistics", "pooling", "rearrangements", "slice_writes"]
)
def test_nodes_the_meta_run_takes_need_no_fake_mode(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    make, inputs = CASES[name]
    trace_model(make().eval(), inputs)
    assert built == []


def test_meta_routes_follow_fake_tensor_mode() -> None:
    """Ops FakeTensorMode sends to their meta kernel take the meta route; ops it answers otherwise (its own
    implementation with other results, a Python decomposition first, values needed) do not."""
    aten = torch.ops.aten
    for op in (aten.bmm.default, aten.view.default, aten.max.dim, aten.convolution.default, aten.empty.memory_format):
        assert takes_meta_route(op), op
    for op in (aten.new_zeros.default, aten.new_empty.default, aten.empty_like.default, aten.zeros_like.default):
        assert takes_meta_route(op), op
    # its own implementation for copies that may take operands on several devices: the meta kernel's output,
    # on the input's device (the meta run takes CPU operands only)
    for op in (aten.copy_.default, aten.copy.default, aten.slice_scatter.default, aten.diagonal_scatter.default):
        assert takes_meta_route(op), op
    for op in (
        aten.nonzero.default,
        aten.index.Tensor,
        aten._local_scalar_dense.default,
        aten.masked_select.default,
        aten.index_put_.default,
    ):
        assert not takes_meta_route(op), op
    assert imports_dynamo(aten.elu.default) and not imports_dynamo(aten.bmm.default)


def test_a_model_with_einsum_is_costed_without_importing_dynamo_or_sympy() -> None:
    """FakeTensorMode's first use imports torch._dynamo (1.5-2 s), torch's Python meta kernels sympy (~0.5 s):
    an attention written with einsum (views and batched products underneath) needs neither."""
    code = (
        "import sys, torch, costmodel\n"
        "from torch import nn\n"
        "class M(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.einsum('bij,bjk->bik', x, x.transpose(1, 2)), torch.einsum('bij->bji', x)\n"
        "report = costmodel.analyze(M(), (2, 3, 4))\n"
        "print(report.totals['flops'], 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)"
    )
    assert fresh_process_output(code) == f"{2 * 3 * 3 * 4} False False"  # b·i·k outputs × j multiply-adds


def test_pooling_norms_and_gates_are_costed_without_importing_dynamo_or_sympy() -> None:
    """CBAM's channel attention (adaptive max pooling), an FPN's nearest upsampling, 1-d max pooling, local
    response norm, pixel unshuffling, instance norm, GLU, PReLU, grid sampling at a constant grid, channel
    shuffle, cdist, argmax, log-sigmoid, fold, a bilinear layer, pairwise distance, norms: their meta kernels
    import sympy (a quarter of a second of a fresh process) or torch._dynamo (one to two seconds); their
    outputs are made from geometry instead. Recurrent layers and circular padding (in F.pad and as a
    convolution's padding mode) are stated by rules, which need neither."""
    code = (
        "import sys, torch, costmodel\n"
        "from torch import nn\n"
        "import torch.nn.functional as F\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.up = nn.Upsample(scale_factor=2); self.attend = nn.AdaptiveMaxPool2d(1)\n"
        "        self.pad = nn.ReflectionPad2d(1); self.bilinear = nn.Bilinear(4, 4, 3)\n"
        "        self.gru = nn.GRU(4, 3, batch_first=True, bidirectional=True); self.lstm = nn.LSTM(4, 3)\n"
        "        self.conv = nn.Conv2d(4, 4, 3, padding=1, padding_mode='circular')\n"
        "    def forward(self, x):\n"
        "        y = self.up(self.pad(x)) * 1 + 0\n"
        "        g = F.grid_sample(x, torch.zeros(2, 3, 3, 2), align_corners=False)\n"
        "        z = F.glu(nn.functional.instance_norm(x), 1) + F.prelu(x, torch.ones(1))[:, :2]\n"
        "        pooled = F.max_pool1d(x.flatten(2), 3), F.local_response_norm(x, 3), F.pixel_unshuffle(y, 2)\n"
        "        p = x.flatten(2).transpose(1, 2)\n"
        "        folded = F.fold(F.unfold(x, 2, stride=2), (6, 6), 2, stride=2)\n"
        "        more = torch.cdist(p, p), F.channel_shuffle(x, 2), x.argmax(1), F.logsigmoid(x), folded\n"
        "        rnn = self.gru(p)[0], self.lstm(p)[1][0], F.pairwise_distance(p[0], p[1]), torch.norm(x, dim=1)\n"
        "        wrapped = self.conv(x), F.pad(x, (1, 2, 0, 1), mode='circular')\n"
        "        return self.attend(y), pooled, g, z, more, self.bilinear(x.mean((2, 3)), x.amax((2, 3))), rnn, wrapped\n"
        "report = costmodel.analyze(M(), (2, 4, 6, 6))\n"
        "print(len(report.uncounted), 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)"
    )
    assert fresh_process_output(code) == "0 False False"


def test_recurrent_layers_replay_from_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recurrent layer's weak references to its own weights do not keep it out of the node memo: a
    second trace replays it (no FakeTensorMode), recording what the fake run recorded."""
    from costmodel.trace.fake_tensors import LazyFakeMode

    make, inputs = CASES["recurrent"]
    model = make().eval()
    assert_rules_record_what_fake_records(model, inputs)  # leaves the memo filled by the rules' trace
    built: list[int] = []
    get = LazyFakeMode.get
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    trace_model(model, inputs)
    assert built == []


def test_the_meta_run_takes_cpu_operands_only() -> None:
    """Kernels and decompositions branch on CUDA (a border pad keeps channels-last on the CPU only,
    log_sigmoid keeps a buffer on the CPU only), where meta would take the CPU side: a node whose operands
    stand for CUDA tensors is left to FakeTensorMode."""
    from costmodel.trace.fake_tensors import LazyFakeMode
    from costmodel.trace.meta_run import run_on_meta
    from costmodel.trace.pending import PendingTensor

    mode = LazyFakeMode(None)
    for device, taken in ((torch.device("cpu"), True), (torch.device("cuda", 0), False)):
        x = PendingTensor((2, 3, 4, 5), (60, 20, 5, 1), 0, torch.float32, device, mode)
        ran = run_on_meta("call_function", F.logsigmoid, (x,), {}, {}, mode)
        assert (ran is not None) == taken
        if ran is not None:
            out, calls = ran
            assert out.device == device and [c.op for c in calls] == ["aten::log_sigmoid_forward"]
