"""torch.nn's recurrent layers and cells by closed forms, held to FakeTensorMode call for call: every
combination of layer kind, batch-first, direction, depth and bias; projections, unbatched input, given
states, single steps and rows, float64 and oneDNN disabled (LSTM on the native stack); and half precision,
left to FakeTensorMode, recorded as it runs. The
FLOPs are held to a closed form written here and to torch's flop counter on a real forward."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel import analyze
from costmodel.trace.fx_trace import trace_model
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes, node_records

GRID = list(itertools.product((nn.RNN, nn.GRU, nn.LSTM), (False, True), (False, True), (1, 2), (True, False)))


@pytest.mark.parametrize(("kind", "batch_first", "bidirectional", "layers", "bias"), GRID)
def test_recurrent_layers_record_what_a_fake_run_records(
    kind: type, batch_first: bool, bidirectional: bool, layers: int, bias: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = kind(6, 5, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional, bias=bias).eval()
    assert_rules_record_what_fake_records(model, (3, 4, 6))
    built = count_fake_modes(monkeypatch)
    trace_model(model, (3, 4, 6))
    assert built == []


class WithState(nn.Module):
    """A recurrent module called with its initial state (an LSTM's as (h, 2·h))."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Any:
        if isinstance(self.rnn, (nn.LSTM, nn.LSTMCell)):
            return self.rnn(x, (h, h * 2))
        return self.rnn(x, h)


CASES: dict[str, tuple[Any, Any]] = {
    "lstm_projection": (lambda: nn.LSTM(6, 5, proj_size=3), (3, 4, 6)),
    "lstm_projection_deep": (lambda: nn.LSTM(6, 5, 2, proj_size=3, bidirectional=True, batch_first=True), (3, 4, 6)),
    "lstm_projection_unbiased": (lambda: nn.LSTM(6, 5, proj_size=3, bias=False), (3, 4, 6)),
    "rnn_relu": (lambda: nn.RNN(6, 5, 2, nonlinearity="relu", bidirectional=True), (3, 4, 6)),
    "gru_unbatched": (lambda: nn.GRU(6, 5), (4, 6)),
    "gru_unbatched_batch_first": (lambda: nn.GRU(6, 5, batch_first=True, bidirectional=True), (4, 6)),
    "lstm_unbatched": (lambda: nn.LSTM(6, 5, 2, batch_first=True), (4, 6)),
    "lstm_projection_unbatched": (lambda: nn.LSTM(6, 5, proj_size=2, batch_first=True), (4, 6)),
    "one_row": (lambda: nn.GRU(6, 5, batch_first=True), (1, 4, 6)),
    "one_step": (lambda: nn.LSTM(6, 5, batch_first=True), (4, 1, 6)),
    "one_row_lstm": (lambda: nn.LSTM(6, 5, batch_first=True), (1, 4, 6)),
    "unit_sizes": (lambda: nn.GRU(1, 1, bidirectional=True), (2, 1, 1)),
    "gru_cell": (lambda: nn.GRUCell(6, 5), (3, 6)),
    "gru_cell_unbatched": (lambda: nn.GRUCell(6, 5), (6,)),
    "gru_cell_unbiased": (lambda: nn.GRUCell(6, 5, bias=False), (1, 6)),
    "lstm_cell": (lambda: nn.LSTMCell(6, 5), (3, 6)),
    "lstm_cell_unbatched": (lambda: nn.LSTMCell(6, 5), (6,)),
    "lstm_cell_unbiased": (lambda: nn.LSTMCell(6, 5, bias=False), (3, 6)),
    "rnn_cell": (lambda: nn.RNNCell(6, 5), (3, 6)),
    "rnn_cell_relu_unbatched": (lambda: nn.RNNCell(6, 5, nonlinearity="relu"), (6,)),
    "gru_given_state": (lambda: WithState(nn.GRU(6, 5, 2)), {"x": (3, 4, 6), "h": (2, 4, 5)}),
    "lstm_given_state": (lambda: WithState(nn.LSTM(6, 5, 2, bidirectional=True)), {"x": (3, 4, 6), "h": (4, 4, 5)}),
    "lstm_given_state_unbatched": (lambda: WithState(nn.LSTM(6, 5)), {"x": (3, 6), "h": (1, 5)}),
    "gru_given_state_unbatched": (lambda: WithState(nn.GRU(6, 5)), {"x": (3, 6), "h": (1, 5)}),
    "rnn_given_state": (lambda: WithState(nn.RNN(6, 5)), {"x": (3, 4, 6), "h": (1, 4, 5)}),
    "gru_cell_given_state": (lambda: WithState(nn.GRUCell(6, 5)), {"x": (3, 6), "h": (3, 5)}),
    "lstm_cell_given_state_unbatched": (lambda: WithState(nn.LSTMCell(6, 5)), {"x": (6,), "h": (5,)}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_recurrent_cases_record_what_a_fake_run_records(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, inputs = CASES[name]
    model = build().eval()
    assert_rules_record_what_fake_records(model, inputs)
    built = count_fake_modes(monkeypatch)
    trace_model(model, inputs)
    assert built == []


@pytest.mark.parametrize("kind", [nn.GRU, nn.LSTM, nn.RNN])
def test_float64_takes_the_native_stack(kind: type) -> None:
    model = kind(6, 5, bidirectional=True).double().eval()
    reference = node_records(trace_model(model, (3, 4, 6), torch.float64, shortcuts=False))
    ruled = node_records(trace_model(model, (3, 4, 6), torch.float64))
    assert ruled == reference
    ops = {c.op for _, calls in reference.values() for c, _ in calls}
    assert "aten::mkldnn_rnn_layer" not in ops and "aten::addmm" in ops


@pytest.mark.filterwarnings("ignore")
def test_cases_left_to_fake_tensors_are_recorded_as_they_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in (nn.GRU, nn.LSTM):  # half precision: other kernels' choices, left to FakeTensorMode
        built = count_fake_modes(monkeypatch)
        traced = trace_model(kind(6, 5).half().eval(), (3, 4, 6), torch.float16)
        assert built and any(c.op == "aten::addmm" for calls in traced.node_calls.values() for c in calls)
    with torch.backends.mkldnn.flags(enabled=False):  # LSTM without oneDNN: the native stack, stated
        assert_rules_record_what_fake_records(nn.LSTM(6, 5).eval(), (3, 4, 6))


def _flop_counter(model: nn.Module, x: torch.Tensor) -> float:
    """torch.utils.flop_counter on a real forward, oneDNN off so that every product is a matmul it counts."""
    counter = FlopCounterMode(display=False)
    with counter, torch.backends.mkldnn.flags(enabled=False), torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize(
    ("build", "closed_form"),
    [
        # T·B·gates·H·(I + H) per layer and direction, the two products of every step
        (lambda: nn.GRU(6, 5, bidirectional=True, batch_first=True), 2 * 4 * 3 * 3 * 5 * (6 + 5)),
        (lambda: nn.RNN(6, 5, 2), 4 * 3 * 5 * (6 + 5) + 4 * 3 * 5 * (5 + 5)),
        (lambda: nn.LSTM(6, 5, 2), 4 * 3 * 4 * 5 * (6 + 5) + 4 * 3 * 4 * 5 * (5 + 5)),
        # with a projection to P = 2: W_hh reads h of P, and every step projects h by W_hr (P × H)
        (lambda: nn.LSTM(6, 5, proj_size=2), 4 * 3 * (4 * 5 * (6 + 2) + 2 * 5)),
    ],
)
def test_recurrent_flops_match_a_closed_form_and_the_flop_counter(build: Any, closed_form: int) -> None:
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(4, 3, 6) if not getattr(model, "batch_first", False) else torch.randn(3, 4, 6)
    report = analyze(model, tuple(x.shape))
    assert report.uncounted == []
    assert report.contraction_flops == closed_form == _flop_counter(model, x)
