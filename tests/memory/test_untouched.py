"""A training step is modelled on a fake copy: the user's model (parameters, gradients, flags, buffers,
Python state, hooks, mode) and the process (RNGs, grad mode, threads, default dtype) stay as they were,
and nothing real of the model's size is allocated."""

from __future__ import annotations

import random
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch

from costmodel import memory_report
from costmodel.memory.measure import measured_peak
from tests.models import corpus as C


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_training_step_leaves_the_model_and_process_as_they_were(optimizer: str) -> None:
    model = C.TinyEfficientNet().eval()
    model.head.weight.requires_grad_(False)  # a frozen parameter stays frozen
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    model.fc_note = ["user state"]  # type: ignore[attr-defined]
    model.stem.register_forward_hook(lambda *a: pytest.fail("a user hook ran during analysis"))
    torch.manual_seed(7)
    random.seed(3)
    np.random.seed(11)
    rng, py_rng, np_rng = torch.get_rng_state(), random.getstate(), np.random.get_state()
    process = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())
    report = memory_report(model, (2, 3, 32, 32), mode="train", optimizer=optimizer)
    measured_peak(model, (2, 3, 32, 32), mode="train", optimizer=optimizer)  # the real run is private too
    assert report.frozen_params == model.head.weight.numel()
    assert all(p.grad is None for p in model.parameters())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model.training and model.fc_note == ["user state"]  # type: ignore[attr-defined]
    assert torch.equal(torch.get_rng_state(), rng) and random.getstate() == py_rng
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_rng) if isinstance(a, np.ndarray))
    assert (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()) == process


def test_a_huge_training_step_is_modelled_without_allocating_it() -> None:
    """ResNet-50 at batch 256, 1024², with Adam: a peak of hundreds of GB, modelled in a process whose
    resident set stays under 2 GB (its own high-water mark, VmHWM: ru_maxrss would carry the parent's over
    fork and exec)."""
    code = (
        "import resource, torch\n"
        "from costmodel import memory_report\n"
        "from costmodel.zoo import ZOO\n"
        "r = memory_report(ZOO['resnet50'](), (256, 3, 1024, 1024), mode='train', optimizer='adam')\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "print(r.peak, int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    peak, rss_kib = int(out[0]), int(out[1])
    assert peak > 100 * 2**30  # far more than this machine has
    assert rss_kib * 1024 < 2 * 2**30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < peak
