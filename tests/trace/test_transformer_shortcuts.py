"""torch.nn's transformer layers by closed forms, held to FakeTensorMode call for call: the fused
multi-head attention kernel where PyTorch's fast-path conditions hold (and the faked decomposed path
where they do not), encoder layers of every norm placement and activation, encoders with and without a
final norm."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costmodel.trace.fx_trace import trace_model
from tests.models import corpus as C
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes


class Attentions(nn.Module):
    """nn.MultiheadAttention called every way: the fused kernel with and without weights, per-head
    weights, keywords; and cases the fast path refuses (cross-attention, odd heads, no biases,
    sequence-first, key/value biases, a padding mask)."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.fused = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.odd = nn.MultiheadAttention(dim, 1, batch_first=True)
        self.unbiased = nn.MultiheadAttention(dim, 2, bias=False, batch_first=True)
        self.seq_first = nn.MultiheadAttention(dim, 2)
        self.kv_bias = nn.MultiheadAttention(dim, 2, add_bias_kv=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        y = x * 2
        pad = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
        return (
            self.fused(x, x, x),
            self.fused(x, x, x, need_weights=False)[0],
            self.fused(query=x, key=x, value=x, average_attn_weights=False),
            self.fused(x, y, y),
            self.fused(x, x, x, key_padding_mask=pad),
            self.odd(x, x, x),
            self.unbiased(x, x, x),
            self.seq_first(x, x, x),
            self.kv_bias(x, x, x),
        )


def _encoder_layer(**options: Any) -> nn.Module:
    return nn.TransformerEncoderLayer(16, 4, 24, batch_first=True, **options)


LAYERS = {
    "post_norm_relu": lambda: _encoder_layer(),
    "pre_norm_gelu": lambda: _encoder_layer(norm_first=True, activation="gelu"),
    "gelu_module_tanh": lambda: _encoder_layer(activation=nn.GELU("tanh"), layer_norm_eps=1e-6),
    "relu_module": lambda: _encoder_layer(activation=nn.ReLU()),
    "silu_unruled": lambda: _encoder_layer(activation=F.silu),
    "no_bias": lambda: _encoder_layer(bias=False),
    "seq_first": lambda: nn.TransformerEncoderLayer(16, 4, 24),
    "encoder_with_norm": lambda: nn.TransformerEncoder(_encoder_layer(norm_first=True), 2, norm=nn.LayerNorm(16)),
    "encoder": lambda: nn.TransformerEncoder(_encoder_layer(), 3, enable_nested_tensor=False),
    "attentions": Attentions,
}


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("shape", [(2, 7, 16), (1, 3, 16)])
def test_transformer_rules_record_what_a_fake_run_records(name: str, shape: tuple[int, ...]) -> None:
    model = nn.Sequential(LAYERS[name]()).eval() if name != "attentions" else LAYERS[name]().eval()
    assert_rules_record_what_fake_records(model, shape)


@pytest.mark.parametrize(
    "name", ["post_norm_relu", "pre_norm_gelu", "gelu_module_tanh", "relu_module", "encoder", "encoder_with_norm"]
)
def test_ruled_transformer_layers_need_no_fake_mode(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    traced = trace_model(nn.Sequential(LAYERS[name]()).eval(), (2, 7, 16))
    ops = [call.op for calls in traced.node_calls.values() for call in calls]
    assert "aten::_native_multi_head_attention" in ops and not built


def test_a_vit_on_torchs_encoder_needs_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The own ViT (patch convolution, class token, nn.TransformerEncoder, head): closed forms throughout,
    so a first analysis does not pay FakeTensorMode's import of torch._dynamo."""
    built = count_fake_modes(monkeypatch)
    traced = trace_model(C.TinyViT().eval(), (2, 3, 32, 32))
    assert traced.node_outcomes and not built
