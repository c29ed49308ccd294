"""The formula, evaluated at 20 or more sizes inside its domain, equals ``analyze`` at each size exactly,
row by row and in total, on the zoo, the own corpus and Hugging Face models from configs (fx and aten
walks, images, tokens and audio)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.symbolic.derive import formula
from costmodel.zoo import ZOO
from tests.models import corpus as C
from tests.symbolic.sampling import same_rows, sizes_inside

Case = tuple[Callable[[], nn.Module], Any, dict[str, int], Callable[[dict[str, int]], Any]]


def _image(channels: int = 3) -> tuple[Any, Callable[[dict[str, int]], Any]]:
    return (1, channels, "H", "W"), lambda v: (1, channels, v["H"], v["W"])


def _tokens(v: dict[str, int]) -> Any:
    return {"input_ids": ((v["B"], v["L"]), torch.int64)}


def _hf(config: str, model: str, **options: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        transformers = pytest.importorskip("transformers")
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(transformers, model)(getattr(transformers, config)(**options)).eval()

    return build


CASES: dict[str, Case] = {
    "resnet18": (ZOO["resnet18"], *_image()[:1], {}, _image()[1]),
    "mobilenet_v2": (ZOO["mobilenet_v2"], *_image()[:1], {}, _image()[1]),
    "shufflenet_v2_x0_5": (ZOO["shufflenet_v2_x0_5"], *_image()[:1], {}, _image()[1]),
    "shufflenet_v1_g3": (ZOO["shufflenet_v1_g3"], *_image()[:1], {}, _image()[1]),
    "resnet50_batch": (ZOO["resnet50"], ("N", 3, "H", "W"), {}, lambda v: (v["N"], 3, v["H"], v["W"])),
    "own_vit_global_attention": (C.TinyViT, (2, 3, "H", "W"), {"H": 32, "W": 32}, lambda v: (2, 3, v["H"], v["W"])),
    "own_efficientnet": (C.TinyEfficientNet, (1, 3, "H", "W"), {"H": 32, "W": 32}, lambda v: (1, 3, v["H"], v["W"])),
    "hf_resnet": (_hf("ResNetConfig", "ResNetModel"), *_image()[:1], {"H": 64, "W": 64}, _image()[1]),
    "hf_regnet": (_hf("RegNetConfig", "RegNetModel"), *_image()[:1], {"H": 64, "W": 64}, _image()[1]),
    "hf_convnext": (_hf("ConvNextConfig", "ConvNextModel"), *_image()[:1], {"H": 64, "W": 64}, _image()[1]),
    "hf_bert": (_hf("BertConfig", "BertModel", num_hidden_layers=2), {"input_ids": (("B", "L"), torch.int64)}, {}, _tokens),
    "hf_gpt2": (_hf("GPT2Config", "GPT2Model", n_layer=2), {"input_ids": (("B", "L"), torch.int64)}, {"L": 64}, _tokens),
    "hf_distilbert": (
        _hf("DistilBertConfig", "DistilBertModel", n_layers=2),
        {"input_ids": (("B", "L"), torch.int64)},
        {},
        _tokens,
    ),
    "hf_wav2vec2_audio": (
        _hf("Wav2Vec2Config", "Wav2Vec2Model", num_hidden_layers=2),
        (1, "T"),
        {"T": 16000},
        lambda v: (1, v["T"]),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_formula_equals_analyze_at_twenty_sizes(name: str) -> None:
    build, symbolic, hints, concrete = CASES[name]
    model = build()
    result = formula(model, symbolic, hints=hints)
    assert not result.domain.specialised, result.notes
    points = sizes_inside(result, count=20, largest=2048 if "wav2vec2" not in name else 64000)
    assert len(points) >= 20, (result.domain.conditions, points)
    assert any(all(p[n] % 2 for n in p if n not in ("N", "B")) for p in points)  # odd sizes among them
    for point in points:
        report = result.at(point)
        reference = analyze(model, concrete(point))
        assert report.walk == reference.walk
        assert same_rows(result, report, reference) == [], point


def test_the_smallest_valid_size_is_exact_and_the_one_below_is_refused() -> None:
    model = ZOO["resnet18"]()
    result = formula(model, (1, 3, "H", "H"))
    assert [c.text for c in result.domain.conditions] == ["H >= 33"]
    assert same_rows(result, result.at(H=33), analyze(model, (1, 3, 33, 33))) == []
    with pytest.raises(Exception, match=r"H=32 is outside the formula's domain: it needs H >= 33"):
        result.at(H=32)


@pytest.mark.parametrize(
    ("build", "symbolic", "hints", "concrete", "cause"),
    [
        # F.interpolate with a scale factor computes its output size as a number: torch specialises it
        (C.ConvNeXtBlock, ("N", 16, "H", "W"), {"H": 14, "W": 14}, (2, 16, 14, 14), "the trace fixed N = 2, H = 14, W = 14"),
        # the recurrent kernel takes no symbolic sizes: every size specialised, the layer named
        (C.LSTMTagger, [(("B", "L"), torch.int64)], {"L": 7}, [((2, 7), torch.int64)], "layer 'lstm'"),
    ],
)
def test_a_model_that_runs_at_one_size_says_it_specialised(
    build: Callable[[], nn.Module], symbolic: Any, hints: dict[str, int], concrete: Any, cause: str
) -> None:
    model = build()
    result = formula(model, symbolic, hints=hints)
    assert set(result.domain.specialised) == set(result.symbols)
    assert any(cause in note for note in result.notes), result.notes
    point = {name: int(value) for name, value in result.domain.specialised.items()}
    assert same_rows(result, result.at(point), analyze(model, concrete)) == []
    other = dict(point, **{next(iter(point)): next(iter(point.values())) + 1})
    with pytest.raises(Exception, match="outside the formula's domain"):
        result.at(other)


def test_a_fixed_typed_input_beside_named_sizes() -> None:
    # a keyword input of fixed shape and its own dtype stays a tensor input (it was once passed as a tuple)
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.proj(x) * mask.float().sum()

    result = formula(Masked(), ([(1, "L", 8)], {"mask": ((1, 77), torch.bool)}))
    assert result.inputs == "0=1xLx8, mask=1x77:bool"
    for length in (2, 5, 64):  # the domain: L >= 2 (a size of 1 broadcasts)
        expected = analyze(Masked(), ([(1, length, 8)], {"mask": ((1, 77), torch.bool)})).totals
        assert result.at(L=length).totals == expected
