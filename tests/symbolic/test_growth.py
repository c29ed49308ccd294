"""Growth: convolutions grow like H·W, global attention like (H·W)², token attention like L²; the rows
named as dominant are the ones whose terms make the leading order (checked against analyze at large
sizes)."""

from __future__ import annotations

from costmodel import analyze
from costmodel.symbolic.derive import formula
from costmodel.zoo import ZOO
from tests.models import corpus as C


def test_convolutions_grow_like_the_area() -> None:
    result = formula(ZOO["resnet50"](), (1, 3, "H", "W"))
    for metric in ("flops", "mac", "activations"):
        growth = result.growth(metric)
        assert str(growth.order) == "H*W" and growth.degrees == {"H": 1, "W": 1}


def test_global_attention_grows_like_the_area_squared_and_dominates() -> None:
    model = C.ConvThenGlobalAttention()
    result = formula(model, (1, 3, "H", "W"), hints={"H": 64, "W": 64})
    growth = result.growth("flops")
    assert growth.degrees == {"H": 2, "W": 2}
    name, share = growth.dominant[0]
    assert share == 1
    big = analyze(model, (1, 3, 1024, 1024))
    heaviest = max(big.layers, key=lambda r: r.flops)
    assert heaviest.name == name
    assert heaviest.family == "attention"


def test_token_attention_grows_with_the_square_of_the_length() -> None:
    result = formula(C.TinyViT(), ("B", 3, "H", "W"), hints={"H": 32, "W": 32})
    growth = result.growth("flops")
    assert growth.degrees == {"B": 1, "H": 2, "W": 2}
