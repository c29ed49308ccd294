"""Costs of what eval/no_grad inference really runs: nn.MultiheadAttention's fused kernel when its
fast-path conditions hold (the decomposed path when they do not), gathers that read only the rows they
gather, and one convention for a linear layer's bias whatever PyTorch dispatches. Every figure is a
closed form written here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costmodel import analyze
from costmodel.inputs import TensorSpec


class SelfAttention(nn.Module):
    def __init__(self, e: int, heads: int, need_weights: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(e, heads, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


class CrossAttention(nn.Module):
    def __init__(self, e: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(e, heads, batch_first=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.attn(x, y, y, need_weights=False)[0]


SIZES = [(2, 10, 32, 4, False), (1, 7, 16, 2, True), (3, 5, 24, 4, False)]


@pytest.mark.parametrize(("b", "length", "e", "heads", "need_weights"), SIZES)
def test_self_attention_in_eval_is_the_fused_kernel(b: int, length: int, e: int, heads: int, need_weights: bool) -> None:
    row = analyze(SelfAttention(e, heads, need_weights).eval(), (b, length, e)).layers[0]
    assert [a["op"] for a in row.aten] == ["_native_multi_head_attention"]
    # in-projection B·L·3E², two attention products 2·B·L²·E, out-projection B·L·E²
    assert row.flops == b * length * 3 * e * e + 2 * b * length * length * e + b * length * e * e
    x, weights = b * length * e, 3 * e * e + 3 * e + e * e + e
    averaged = b * length * length if need_weights else 0  # the kernel's second output: head-averaged weights
    projected, attended = 2 * b * 3 * length * e, 2 * b * length * e  # q, k, v and the attention out written + read
    assert row.mac == x + weights + x + averaged + projected + attended


def test_cross_attention_takes_the_decomposed_path_as_pytorch_does() -> None:
    row = analyze(CrossAttention(32, 4).eval(), [(2, 10, 32), (2, 7, 32)]).layers[0]
    ops = [a["op"] for a in row.aten]
    assert "_native_multi_head_attention" not in ops  # key is not query: PyTorch's fast path does not apply
    assert "_scaled_dot_product_flash_attention_for_cpu" in ops or "scaled_dot_product_attention" in ops
    # q, k, v projections, attention, out-projection: B·L·E² + 2·B·S·E² + B·L·S·2E + B·L·E², and the two
    # in-projection bias adds PyTorch runs apart (B·L·E + B·S·2E): inside F.multi_head_attention_forward the
    # recorder cannot see F.linear, so they stay element-wise adds (docs/CONVENTIONS.md says so)
    products = 2 * 10 * 32 * 32 + 2 * 2 * 7 * 32 * 32 + 2 * 10 * 7 * 2 * 32 + 2 * 10 * 32 * 32
    assert row.flops == products + 2 * 10 * 32 + 2 * 7 * 64


def test_an_odd_head_count_takes_the_decomposed_path_as_pytorch_does() -> None:
    row = analyze(SelfAttention(24, 3).eval(), (3, 5, 24)).layers[0]
    assert "_native_multi_head_attention" not in [a["op"] for a in row.aten]


def test_an_embedding_reads_the_rows_it_gathers_not_the_table() -> None:
    row = analyze(nn.Embedding(30522, 768), TensorSpec((1, 128), torch.int64)).layers[0]
    assert (row.flops, row.mac) == (0, 128 + 2 * 128 * 768)  # indices + rows read + output written


class Gathers(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.gather(x, 1, i), x.index_select(0, i[0]), x[i[:, :2]]


def test_gather_index_select_and_index_read_what_they_select() -> None:
    rows = {r.op: r for r in analyze(Gathers(), [TensorSpec((4, 10)), TensorSpec((4, 3), torch.int64)]).layers}
    assert rows["gather"].mac == 2 * 4 * 3 + 4 * 3
    assert rows["index_select"].mac == 2 * 3 * 10 + 3
    index = next(r for r in rows.values() if any(a["op"] == "index" for a in r.aten))
    assert index.mac == 2 * 4 * 2 * 10 + 4 * 2


def test_a_bert_word_embedding_row_is_its_lookups() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128)
    report = analyze(transformers.BertModel(config).eval(), {"input_ids": TensorSpec((1, 128), torch.int64)})
    word = [r for r in report.layers if "word_embeddings" in (r.module or r.name) and r.mac > 0]
    assert word and sum(r.mac for r in word) == 128 + 2 * 128 * 64


class LinearOnTransposed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.transpose(0, 1))  # non-contiguous 3-D: PyTorch runs mm + add, not addmm


def test_a_linear_bias_costs_the_same_under_mm_plus_add_as_under_addmm() -> None:
    contiguous = analyze(nn.Linear(32, 16), (2, 3, 32)).layers[0]
    assert "addmm" in [a["op"] for a in contiguous.aten]
    strided = next(r for r in analyze(LinearOnTransposed(), (3, 2, 32)).layers if r.name == "fc")
    ops = [a["op"] for a in strided.aten]
    assert "mm" in ops and "add" in ops and "addmm" not in ops
    m, k, n = 6, 32, 16
    assert contiguous.flops == strided.flops == m * n * k  # the bias add is not a FLOP under either
    assert contiguous.mac == m * k + k * n + n + m * n
    copy = m * k * 2  # the transposed input made contiguous first (a real copy)
    assert strided.mac == contiguous.mac + copy


def test_an_explicit_bias_add_outside_linear_is_still_an_add() -> None:
    class MatmulPlusBias(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(32, 16))
            self.b = nn.Parameter(torch.randn(16))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w + self.b

    report = analyze(MatmulPlusBias(), (6, 32))
    add = next(r for r in report.layers if r.op == "add")
    assert (add.flops, add.mac) == (6 * 16, 2 * 6 * 16 + 16)


def _flop_counter_total(fn) -> int:  # type: ignore[no-untyped-def]
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def test_where_flop_counter_counts_zero_on_cpu_and_we_do_not() -> None:
    """The documented differences (docs/CONVENTIONS.md): FlopCounterMode has no formula for these CPU
    kernels and counts 0; ours are the closed forms. If torch gains a formula, this test says so."""
    attention = SelfAttention(32, 4).eval()
    x = torch.randn(2, 10, 32)
    assert _flop_counter_total(lambda: attention(x)) == 0
    assert analyze(attention, (2, 10, 32)).totals["flops"] == 2 * 10 * 3 * 32 * 32 + 2 * 2 * 10 * 10 * 32 + 2 * 10 * 32 * 32
    q = torch.randn(2, 4, 10, 8)
    assert _flop_counter_total(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q)) == 0
    lstm = nn.LSTM(8, 16).eval()
    assert _flop_counter_total(lambda: lstm(torch.randn(5, 2, 8))) == 0
    assert _flop_counter_total(lambda: torch.mv(torch.randn(4, 5), torch.randn(5))) == 0


@pytest.mark.parametrize(
    ("c1", "c2", "k", "stride", "groups", "size"),
    [(8, 4, 2, 2, 1, 7), (16, 16, 3, 1, 1, 5), (8, 8, 4, 2, 4, 6), (16, 4, 2, 2, 1, 7)],
)
def test_a_transposed_conv_carries_the_bound_of_its_adjoint_conv(
    c1: int, c2: int, k: int, stride: int, groups: int, size: int
) -> None:
    import math

    padding = 1 if k in (3, 4) else 0
    conv = nn.ConvTranspose2d(c1, c2, k, stride=stride, padding=padding, groups=groups, bias=False)
    row = next(r for r in analyze(conv, (1, c1, size, size)).layers if r.op == "ConvTranspose2d")
    out = (size - 1) * stride - 2 * padding + k
    a_in, a_out, taps = size * size, out * out, k * k
    flops = a_in * c1 * (c2 // groups) * taps  # every input element meets a (c2/g)·k² patch
    mac = a_in * c1 + a_out * c2 + c1 * (c2 // groups) * taps
    bound = 2 * math.sqrt(groups * a_out * flops / taps) + flops / a_in  # the conv bound, roles exchanged
    assert (row.flops, row.mac) == (flops, mac)
    assert row.mac_lower_bound == pytest.approx(bound, rel=1e-12)
    assert row.mac >= row.mac_lower_bound - 1e-9
    if a_in * c1 == a_out * c2:  # the equality condition of the adjoint conv: on the bound
        assert row.mac_lower_bound == row.mac


def test_a_mixture_of_experts_layer_is_costed_completely() -> None:
    """transformers' Mixtral experts run torch's grouped matrix product (whose fake kernel demands bf16, the
    CPU kernel does not: its output is made from the operands' geometry, so the fx walk takes the model)
    and histc to count tokens per expert; the aten walk, on real tensors, costs the same."""
    transformers = pytest.importorskip("transformers")
    tokens, hidden, inner, experts, top_k = 16, 32, 64, 4, 2
    config = transformers.MixtralConfig(
        vocab_size=100,
        hidden_size=hidden,
        intermediate_size=inner,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=experts,
        num_experts_per_tok=top_k,
    )
    model, spec = transformers.MixtralModel(config).eval(), {"input_ids": TensorSpec((1, tokens), torch.int64)}
    report = analyze(model, spec)
    assert report.walk == "fx" and report.uncounted == []
    assert report.totals == analyze(model, spec, fallback=True).totals
    grouped = sorted((r for r in report.layers if r.op == "_grouped_mm"), key=lambda r: r.name)
    routed = tokens * top_k  # each token goes to top_k experts
    assert [r.flops for r in grouped] == [routed * 2 * inner * hidden, routed * hidden * inner]  # gate+up, down
    assert grouped[0].mac == routed * hidden + experts * hidden * 2 * inner + experts + routed * 2 * inner
    histc = next(r for r in report.layers if r.op == "histc")
    assert (histc.flops, histc.mac) == (routed, routed + experts)


class _Distances(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cdist(a, b, p=self.p)


@pytest.mark.parametrize(
    "batch, points, others, coords, p",
    [
        (2, 8, 6, 16, 2.0),  # few points: the direct kernel, _cdist_forward
        (2, 40, 30, 16, 2.0),  # more than 25 points at p = 2: the matrix-product kernel, _euclidean_dist
        (1, 8, 6, 5, 1.0),
        (3, 30, 40, 7, 3.0),
    ],
)
def test_pairwise_distances_cost_one_multiply_add_per_coordinate_pair(
    batch: int, points: int, others: int, coords: int, p: float
) -> None:
    """torch.cdist, whichever kernel PyTorch picks: FLOPs = B·P·R·M, MAC = both point sets + the B×P×R
    distances (a closed form here; FlopCounterMode has no formula for either kernel)."""
    report = analyze(_Distances(p), [(batch, points, coords), (batch, others, coords)])
    assert report.uncounted == []
    assert report.totals["flops"] == batch * points * others * coords
    assert report.totals["mac"] == batch * (points + others) * coords + batch * points * others
    expected = "_euclidean_dist" if p == 2.0 and max(points, others) > 25 else "_cdist_forward"
    assert [a["op"] for r in report.layers for a in r.aten if a["flops"]] == [expected]
    assert (
        list(_Distances(p)(torch.rand(batch, points, coords), torch.rand(batch, others, coords)).shape)
        == report.layers[-1].output_shape
    )


class _Bilinear(nn.Module):
    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.layer = nn.Bilinear(8, 6, 4, bias=bias)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.layer(a, b)


@pytest.mark.parametrize("bias", [True, False])
def test_a_bilinear_layer_costs_one_multiply_add_per_term(bias: bool) -> None:
    """nn.Bilinear(8, 6, 4) on 3 rows: FLOPs = B·O·I1·I2 for x1ᵀ·W_o·x2, MAC = both inputs + weight + output;
    the bias is an element-wise add over the B×O output (closed forms here: flop_counter counts 0)."""
    report = analyze(_Bilinear(bias), [(3, 8), (3, 6)])
    assert report.uncounted == []
    b, o, i1, i2 = 3, 4, 8, 6
    row = report.layers[0]
    terms = [a for a in row.aten if a["op"] == "_trilinear"]
    assert [(a["flops"], a["mac"]) for a in terms] == [(b * o * i1 * i2, b * i1 + o * i1 * i2 + b * i2 + b * o)]
    assert row.flops == b * o * i1 * i2 + (b * o if bias else 0)
    assert row.params == o * i1 * i2 + (o if bias else 0)


class _PoolUnpool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unpool(*self.pool(x))


def test_max_unpooling_moves_data_without_flops() -> None:
    """SegNet's decoder: nn.MaxUnpool2d scatters N·C·h·w values to their indices in a zeroed N·C·H·W map:
    FLOPs = 0, MAC = values + indices + output (closed form here)."""
    report = analyze(_PoolUnpool(), (2, 3, 8, 6))
    assert report.uncounted == []
    unpool = next(r for r in report.layers if r.name == "unpool")
    pooled, full = 2 * 3 * 4 * 3, 2 * 3 * 8 * 6
    assert (unpool.flops, unpool.mac, unpool.output_shape) == (0, 2 * pooled + full, [2, 3, 8, 6])


class _Fractional(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planar = F.fractional_max_pool2d(x, (3, 2), output_size=(4, 5))
        volume = F.fractional_max_pool3d(x.unsqueeze(2).expand(-1, -1, 4, -1, -1), 2, output_size=(2, 5, 6))
        return planar, volume


def test_fractional_max_pooling_reads_one_window_per_output() -> None:
    """Fractional max pooling (Graham 2014): every output compares a whole kh×kw window placed at
    pseudo-random offsets inside the input — FLOPs = outputs × window elements; MAC = input + the N·C·2
    (3-d: ·3) random samples + output, and the row also writes those samples (the functional draws them
    with ``torch.rand``: closed forms here); nothing uncounted, in both walks."""
    n, c, h, w = 2, 3, 9, 8
    planar_in, volume_in = n * c * h * w, n * c * 4 * h * w  # the 3-d input: 4 expanded frames
    planar_out, volume_out = n * c * 4 * 5, n * c * 2 * 5 * 6
    for fallback in (None, True):  # the aten walk lists the draw (``aten::rand``) as a row of its own
        report = analyze(_Fractional(), (n, c, h, w), fallback=fallback)
        assert report.uncounted == []
        flops = {r.op: r.flops for r in report.layers}
        assert (flops["fractional_max_pool2d"], flops["fractional_max_pool3d"]) == (planar_out * 3 * 2, volume_out * 8)
        draws = 2 * n * c + 3 * n * c
        assert report.totals["mac"] == planar_in + volume_in + draws + draws + planar_out + volume_out


def test_a_call_listed_twice_is_costed_once_and_counted_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recurrent layer lists one AtenCall object per repeated step: the rule runs once per object, and
    the node still sums every listing (T steps of a GRU cost T times one step)."""
    from costmodel.rules import costing
    from costmodel.rules.base import AtenCall
    from costmodel.rules.tensor_meta import TensorMeta

    a, w = TensorMeta((4, 8), torch.float32), TensorMeta((8, 3), torch.float32)
    out = TensorMeta((4, 3), torch.float32)
    step = AtenCall("aten::mm", (a, w), {}, (a, w), (out,))
    ran: list[AtenCall] = []
    rule = costing.cost_call
    monkeypatch.setattr(costing, "cost_call", lambda call: ran.append(call) or rule(call))
    node = costing.cost_node([step] * 5 + [AtenCall("aten::mm", (a, w), {}, (a, w), (out,))], True)
    assert len(ran) == 2
    assert node.flops == 6 * 4 * 8 * 3  # six products of (4×8)·(8×3), one multiply-add per term


def test_losses_a_forward_computes_are_counted() -> None:
    """Losses inside a forward (DAC's commitment loss is an ``F.mse_loss``): the element-wise term at 1
    FLOP per input element, +1 per element when reduced; cross-entropy as its log-softmax (5 per element)
    and one picked log-probability per target, +1 each for the mean; nothing uncounted."""
    import torch.nn.functional as F

    class Losses(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            target = x * 0.5
            labels = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
            return (
                F.mse_loss(x, target),
                F.mse_loss(x, target, reduction="none"),
                F.smooth_l1_loss(x, target, reduction="sum"),
                F.binary_cross_entropy_with_logits(x, target.sigmoid()),
                F.cross_entropy(x, labels),
            )

    report = analyze(Losses(), (4, 10))
    assert report.uncounted == []
    n = 4 * 10
    flops = {row.name: row.flops for row in report.layers}
    assert (flops["mse_loss"], flops["mse_loss_1"], flops["smooth_l1_loss"]) == (2 * n, n, 2 * n)
    assert flops["binary_cross_entropy_with_logits"] == 2 * n
    assert flops["cross_entropy"] == 5 * n + 2 * 4


class _CheckedSpline(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        discriminant = x * x + 1
        torch._check_tensor_all(discriminant >= 0, lambda: "negative discriminant")  # VITS's spline check
        return discriminant.sqrt()


def test_a_forwards_tensor_check_is_counted() -> None:
    """``torch._check_tensor_all`` (VITS's rational-quadratic spline) reduces the condition with
    ``aten::_is_all_true``: a reduction, 1 FLOP per element of the condition, MAC = condition + the one
    bool written; counted, never uncounted (closed forms here)."""
    shape = (2, 3, 5)
    numel = 2 * 3 * 5
    report = analyze(_CheckedSpline(), shape)
    assert report.uncounted == []
    check = next(r for r in report.layers if r.op == "_is_all_true")
    assert (check.flops, check.mac) == (numel, numel + 1)
