"""The ledger against closed forms written here: which tensors are live after each op, what views and
in-place ops allocate, what is resident, how a training step's gradients and optimizer state count."""

from __future__ import annotations

import torch
from torch import nn

from costmodel import memory_report
from costmodel.memory.ledger import allocated_bytes

F32 = 4


def mlp(n_in: int = 8, hidden: int = 16, n_out: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def test_inference_peak_is_the_largest_pair_of_live_activations() -> None:
    n = 5
    report = memory_report(mlp(), (n, 8))
    params = (8 * 16 + 16 + 16 * 4 + 4) * F32
    assert report.resident == {"parameters": params, "inputs": n * 8 * F32}
    # Linear 1 writes n×16; ReLU (not in place) writes another n×16 while its input is alive: the peak;
    # then Linear 1's output is freed and Linear 2 writes n×4 beside ReLU's output
    assert report.peak == params + n * 8 * F32 + 2 * n * 16 * F32
    assert report.peak_row == "1" and report.peak_op == "relu"
    rows = {r.name: r for r in report.timeline}
    assert rows["0"].allocated == rows["1"].allocated == n * 16 * F32
    assert rows["2"].allocated == n * 4 * F32
    assert rows["2"].peak == params + n * 8 * F32 + n * 16 * F32 + n * 4 * F32  # ReLU's output still read
    assert rows["2"].live_after == report.resident_bytes  # the step drops the output: back to resident


class ViewsAndInPlace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 2  # allocates
        z = y.view(-1).relu_()  # a view, then in place: nothing new
        return z.t() if z.dim() == 2 else z.unsqueeze(0)  # a view again


def test_views_and_in_place_ops_allocate_nothing() -> None:
    report = memory_report(ViewsAndInPlace(), (3, 7))
    assert [(r.allocated, r.peak) for r in report.timeline] == [(21 * F32, 2 * 21 * F32)]
    assert report.peak == 2 * 21 * F32


def test_cuda_rounds_every_block_to_512_bytes_without_a_gpu() -> None:
    n = 5
    report = memory_report(mlp(), (n, 8), device="cuda")
    assert report.device == "cuda"
    blocks = [(8 * 16), 16, (16 * 4), 4]
    params = sum(allocated_bytes(b * F32, torch.device("cuda")) for b in blocks)
    assert params == 4 * 512 == report.resident["parameters"]
    assert report.peak == params + 512 + 2 * 512  # input and two n×16 activations, one block each


def test_training_step_counts_gradients_and_optimizer_state() -> None:
    n = 5
    model = mlp()
    params = sum(p.numel() for p in model.parameters()) * F32
    sgd = memory_report(model, (n, 8), mode="train", optimizer="sgd")
    momentum = memory_report(model, (n, 8), mode="train", optimizer="momentum")
    adam = memory_report(model, (n, 8), mode="train", optimizer="adam")
    assert "optimizer state" not in sgd.resident
    assert momentum.resident["optimizer state"] == params  # one momentum buffer per parameter
    assert adam.resident["optimizer state"] == 2 * params + 4 * F32  # exp_avg, exp_avg_sq, a float32 step each
    assert sgd.gradients == momentum.gradients == adam.gradients == params
    assert adam.trainable_params == params // F32 and adam.frozen_params == 0
    phases = [r.phase for r in adam.timeline]
    assert phases.index("forward") < phases.index("loss") < phases.index("backward") < phases.index("optimizer")
    # the step's peak holds at least the parameters, their gradients and the optimizer state
    assert adam.peak >= adam.resident_bytes + params


def test_frozen_parameters_get_no_gradient_and_no_state() -> None:
    model = mlp()
    for p in model[0].parameters():
        p.requires_grad_(False)
    trainable = (16 * 4 + 4) * F32
    report = memory_report(model, (5, 8), mode="train", optimizer="adam")
    assert report.gradients == trainable
    assert report.resident["optimizer state"] == 2 * trainable + 2 * F32
    assert report.frozen_params == 8 * 16 + 16


def test_what_autograd_saves_is_what_the_backward_keeps() -> None:
    """ReLU saves its output (threshold_backward reads it) and Linear 2 saves its input, the same tensor;
    the sum saves nothing: of the three activations only ReLU's output is alive when the backward starts."""
    n = 5
    report = memory_report(mlp(), (n, 8), mode="train", optimizer=None)
    saved = {layer.name: layer.saved_bytes for layer in report.layers}
    assert saved["1"] == n * 16 * F32  # ReLU's output, read by its backward and by Linear 2's
    assert saved.get("0", 0) == 0  # Linear 1's output: ReLU saved its own result, not its input
    assert saved.get("2", 0) == 0  # Linear 2's output: the sum needs only its shape
