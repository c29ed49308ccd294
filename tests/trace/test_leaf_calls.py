"""Layer rows in the aten-level walk: each call of a torch.nn layer is one row (as in the fx walk), and the
shape rules and memo that answer those calls record exactly what running every layer on fake tensors
records — on numbers and on symbolic sizes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from costmodel import analyze, load_model
from costmodel.symbolic.symbols import symbolic_inputs
from costmodel.trace.aten_walk import AtenWalk, aten_walk
from costmodel.trace.node_cache import forget
from costmodel.zoo import ZOO
from tests.models import corpus as C
from tests.models import custom
from tests.trace.test_shortcuts import FX_MODELS


def _bert(layers: int = 2) -> nn.Module:
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return transformers.BertModel(transformers.BertConfig(num_hidden_layers=layers)).eval()


def _hf(config_name: str, **options: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        transformers = pytest.importorskip("transformers")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            config = getattr(transformers, config_name)(**options)
            return transformers.AutoModel.from_config(config).eval()

    return build


TOKENS = {"input_ids": ((1, 16), torch.int64)}

WALK_MODELS: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    **{name: FX_MODELS[name] for name in ("resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "vit", "aliasing", "mha")},
    "always_branch": (custom.AlwaysBranchNet, (2, 3, 8, 8)),
    "lstm_tokens": (C.LSTMTagger, ((2, 7), torch.int64)),
    "hf_bert": (_bert, TOKENS),
    "hf_gpt2": (_hf("GPT2Config", n_layer=2, use_cache=False), TOKENS),
    "hf_vit": (_hf("ViTConfig", num_hidden_layers=2), (1, 3, 224, 224)),
    "hf_convnext": (_hf("ConvNextConfig"), (1, 3, 64, 64)),
    "hf_mobilevit": (_hf("MobileViTConfig"), (1, 3, 64, 64)),
    "hf_wav2vec2": (_hf("Wav2Vec2Config", num_hidden_layers=2), (1, 4000)),
}


def _rows(walk: AtenWalk) -> list[tuple[Any, ...]]:
    """Each row: its op, layer, owner, tensors, and the aten calls it holds."""
    return [(r.op, r.layer, r.owner, r.inputs, r.outputs, r.aliases, tuple(walk.calls[r.start : r.end])) for r in walk.rows]


@pytest.mark.parametrize("name", sorted(WALK_MODELS))
def test_layer_shortcuts_match_running_every_layer_on_fake_tensors(name: str) -> None:
    build, inputs = WALK_MODELS[name]
    model = build().eval()
    reference = aten_walk(model, inputs, shortcuts=False)
    forget()
    cold = aten_walk(model, inputs)
    warm = aten_walk(model, inputs)
    assert any(r.layer is not None for r in reference.rows)
    for walk in (cold, warm):
        assert walk.calls == reference.calls
        assert _rows(walk) == _rows(reference)
        assert [(r.storages != (), r.out_storages != ()) for r in walk.rows] == [
            (r.storages != (), r.out_storages != ()) for r in reference.rows
        ]


def test_symbolic_layer_shortcuts_match_running_every_layer() -> None:
    model = _hf("ConvNextConfig", depths=[1, 1, 1, 1])()

    def walked(shortcuts: bool) -> list[str]:
        spec, symbols = symbolic_inputs((1, 3, "H", "W"), {"H": 64, "W": 96}, False)
        walk = aten_walk(model, spec, fake_mode=symbols.mode, shortcuts=shortcuts)
        return [str(row) for row in _rows(walk)]

    assert walked(True) == walked(False)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "shufflenet_v1_g3", "vit", "aliasing"])
def test_layer_rows_are_the_fx_walks_module_rows(name: str) -> None:
    build, inputs = FX_MODELS[name] if name in FX_MODELS else (lambda: load_model(name), (1, 3, 64, 64))
    model = build().eval()
    fx = analyze(model, inputs)
    aten = analyze(model, inputs, fallback=True)
    assert fx.walk == "fx" and aten.walk == "aten"

    def layers(report: Any) -> list[tuple[Any, ...]]:
        return [
            (r.name, r.op, r.module, r.flops, r.mac, r.params, r.input_shapes, r.output_shape)
            for r in report.layers
            if r.module_call
        ]

    assert layers(aten) == layers(fx) != []
    assert aten.totals == fx.totals


def test_hugging_face_layers_are_rows_with_their_closed_form_costs() -> None:
    hidden, tokens, vocab = 768, 16, 30522
    report = analyze(_bert(), TOKENS, fallback=True)
    assert report.walk == "aten" and report.uncounted == []
    rows = {r.name: r for r in report.layers}
    query = rows["encoder.layer.0.attention.self.query"]
    assert (query.op, query.module, query.module_call) == ("Linear", "encoder.layer.0.attention.self.query", True)
    assert query.flops == tokens * hidden * hidden and query.params == hidden * hidden + hidden
    assert query.input_shapes == [[1, tokens, hidden]] and query.output_shape == [1, tokens, hidden]
    assert [a["op"] for a in query.aten] == ["view", "t", "addmm", "view"]
    up = rows["encoder.layer.1.intermediate.dense"]
    assert up.flops == tokens * hidden * 4 * hidden and up.params == hidden * 4 * hidden + 4 * hidden
    words = rows["embeddings.word_embeddings"]
    assert (words.op, words.params, words.output_shape) == ("Embedding", vocab * hidden, [1, tokens, hidden])
    norm = rows["encoder.layer.0.output.LayerNorm"]
    assert norm.op == "LayerNorm" and norm.params == 2 * hidden
    assert not [r.name for r in report.layers if r.op in ("addmm", "mm", "native_layer_norm", "embedding")]
    assert report.totals["params"] == sum(p.numel() for p in _bert().parameters())
    # the attention between the layers stays per op, named by the module whose code runs it
    assert "encoder.layer.0.attention.self.scaled_dot_product_attention" in rows
    # the fx walk (shapes answered concretely) has the same layer rows
    fx = analyze(_bert(), TOKENS)
    assert fx.walk == "fx" and fx.totals == report.totals
    layer_rows = [(r.name, r.op, r.flops, r.mac, r.params, r.output_shape) for r in report.layers if r.module_call]
    assert [(r.name, r.op, r.flops, r.mac, r.params, r.output_shape) for r in fx.layers if r.module_call] == layer_rows


def test_repeated_layers_run_once_per_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    forward = nn.InstanceNorm2d.forward  # no shape rule: a layer that must run on fake tensors

    def counted(self: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        runs.append(tuple(x.shape))
        return forward(self, x)

    monkeypatch.setattr(nn.InstanceNorm2d, "forward", counted)
    layers = [nn.Sequential(nn.InstanceNorm2d(8, affine=True), nn.ReLU()) for _ in range(6)]
    model = nn.Sequential(*layers, nn.InstanceNorm2d(8, eps=1e-3))
    aten_walk(model, (1, 8, 5, 5), shortcuts=False)
    assert len(runs) == 7
    runs.clear()
    forget()
    walk = aten_walk(model, (1, 8, 5, 5))
    assert runs == [(1, 8, 5, 5)] * 2  # two signatures (affine, and another eps): each run once, the rest replayed
    assert [r.op for r in walk.rows].count("InstanceNorm2d") == 7
    assert walk.calls == aten_walk(model, (1, 8, 5, 5), shortcuts=False).calls


def test_a_layer_returning_a_view_keeps_its_alias_in_the_dataflow() -> None:
    from costmodel.analyze import run_analysis

    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Flatten(), nn.ReLU())
    for _ in range(2):  # the second walk would replay from the memo
        analysis = run_analysis(model, (1, 3, 4, 4), fallback=True)
        assert analysis.reads["3"] == ("0",)  # ReLU reads the conv's output, through the two views
        assert [r.op for r in analysis.report.layers] == ["Conv2d", "Flatten", "Flatten", "ReLU"]


def test_a_model_that_is_itself_a_layer_is_one_row_named_by_its_class() -> None:
    report = analyze(nn.Conv2d(3, 8, 3), (1, 3, 8, 8), fallback=True)
    assert [(r.name, r.op) for r in report.layers] == [("Conv2d", "Conv2d")]
    assert report.layers[0].flops == 8 * 6 * 6 * 3 * 9 and report.layers[0].params == 8 * 27 + 8


def test_every_zoo_model_walks_to_the_fx_totals() -> None:
    for name in ("shufflenet_v1_g8", "resnet50"):
        model = ZOO[name]().eval()
        assert analyze(model, (1, 3, 64, 64), fallback=True).totals == analyze(model, (1, 3, 64, 64)).totals
