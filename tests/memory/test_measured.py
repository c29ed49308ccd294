"""Predicted peaks against the allocator's own record of the same step run for real: inference within
±5%, a training step with Adam within ±10%, on the zoo, the own corpus and Hugging Face models built
from their default configs (vision, text, audio)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from costmodel import memory_report
from costmodel.inputs import TensorSpec
from costmodel.memory.measure import measured_peak
from costmodel.zoo import ZOO
from tests.oracles.test_corpus import HF_CONFIGS, OWN, hf_model

F32 = 4


def test_measured_peak_is_the_allocator_record_of_a_real_run() -> None:
    """The oracle itself, against a closed form: an MLP's forward holds Linear 1's and ReLU's outputs at once."""
    torch.manual_seed(0)
    n = 64
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 8))
    params = sum(p.numel() for p in model.parameters()) * F32
    measured = measured_peak(model, (n, 256))
    assert measured.resident == params + n * 256 * F32
    assert measured.peak == params + n * 256 * F32 + 2 * n * 512 * F32
    assert "profile_memory" in measured.method


def _text(model_class: str, config_class: str, **config: Any) -> tuple[Callable[[], nn.Module], Any]:
    transformers = pytest.importorskip("transformers")

    def build() -> nn.Module:
        torch.manual_seed(0)
        return getattr(transformers, model_class)(getattr(transformers, config_class)(**config)).eval()

    return build, {"input_ids": TensorSpec((2, 64), torch.int64)}


def _audio() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    return transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(num_hidden_layers=2)).eval()


def _hf(config: str) -> tuple[Callable[[], nn.Module], Any]:
    return (lambda: hf_model(config)[0]), None


ZOO_CASES = {
    "resnet18@224": (ZOO["resnet18"], (1, 3, 224, 224)),
    "resnet50@64": (ZOO["resnet50"], (2, 3, 64, 64)),
    "mobilenet_v2@96": (ZOO["mobilenet_v2"], (2, 3, 96, 96)),
    "shufflenet_v2_x1_0@64": (ZOO["shufflenet_v2_x1_0"], (2, 3, 64, 64)),
    "shufflenet_v1_g3@64": (ZOO["shufflenet_v1_g3"], (2, 3, 64, 64)),
}
TEXT_CASES = {
    "bert": lambda: _text("BertModel", "BertConfig", num_hidden_layers=2),
    "gpt2": lambda: _text("GPT2Model", "GPT2Config", n_layer=2),
    "t5_encoder": lambda: _text("T5EncoderModel", "T5Config", num_layers=2),
}
#: Known gaps, kept visible: kernel scratch the ledger does not model.
KNOWN_GAPS = {
    "lstm_tokens": "oneDNN's RNN kernel keeps a workspace the ledger does not model (-49% inference)",
    "convnext_block": "channels-last group norm: the CPU kernel keeps the layout its fake kernel drops (-8%)",
}


def _case(name: str) -> tuple[nn.Module, Any]:
    if name in ZOO_CASES:
        build, inputs = ZOO_CASES[name]
        return build().eval(), inputs
    if name in TEXT_CASES:
        build, inputs = TEXT_CASES[name]()
        return build(), inputs
    if name == "wav2vec2":
        return _audio(), (1, 8000)
    if name in OWN:
        build, inputs = OWN[name]
        torch.manual_seed(0)
        return build(), inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hf_model(name)


INFERENCE = [*ZOO_CASES, *TEXT_CASES, "wav2vec2", *OWN, *(c for c in HF_CONFIGS if c != "EfficientNetConfig")]
TRAINING = [*ZOO_CASES, *TEXT_CASES, *(n for n in OWN if n != "two_inputs_kwargs"), "ViTConfig", "SwinConfig", "RegNetConfig"]


def _params(names: list[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_GAPS[n], strict=True)) if n in KNOWN_GAPS else n for n in names]


@pytest.mark.parametrize("name", _params(INFERENCE))
def test_inference_peak_within_5_percent_of_the_allocator(name: str) -> None:
    model, inputs = _case(name)
    predicted = memory_report(model, inputs)
    measured = measured_peak(model, inputs)
    assert predicted.resident_bytes == measured.resident
    assert abs(predicted.peak - measured.peak) <= 0.05 * measured.peak, (predicted.peak, measured.peak)


@pytest.mark.parametrize("name", _params(TRAINING))
def test_training_step_peak_with_adam_within_10_percent_of_the_allocator(name: str) -> None:
    model, inputs = _case(name)
    predicted = memory_report(model, inputs, mode="train", optimizer="adam")
    measured = measured_peak(model, inputs, mode="train", optimizer="adam")
    assert predicted.resident_bytes == measured.resident
    assert predicted.complete, predicted.uncounted
    assert abs(predicted.peak - measured.peak) <= 0.10 * measured.peak, (predicted.peak, measured.peak)
