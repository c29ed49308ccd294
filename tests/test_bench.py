"""Runtime cross-check: real (small) timings, joins by node name, metrics on hand-computed data, calibration cache."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from cli.main import main
from costmodel.bench import bench
from costmodel.calibrate import cache_dir, cache_key, calibrate
from costmodel.predict import mape, pearson, spearman
from costmodel.trace import trace_model
from tests.conftest import zoo_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_spearman_pearson_mape_on_hand_computed_data() -> None:
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]
    # ranks equal values; d = (-1, 1, -1, 1, 0), Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8
    assert spearman(x, y) == pytest.approx(0.8)
    # Pearson by hand: mean 3, Σ(x−3)(y−3) = 8, Σ(x−3)² = Σ(y−3)² = 10, r = 0.8
    assert pearson(x, y) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    # ties take average ranks: x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]))
    assert mape([110.0, 80.0], [100.0, 100.0]) == pytest.approx(15.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


@pytest.mark.slow
def test_bench_joins_every_counted_node_with_real_timings() -> None:
    model = zoo_model("shufflenet_v2_x0_5")
    model.train()
    before = copy.deepcopy(model.state_dict())
    result = bench(model, (1, 3, 64, 64), threads=1, repeats=3, warmup=1)
    assert [r.name for r in result.rows] == [layer.name for layer in result.report.layers]
    for row in result.rows:
        assert row.measured_ms > 0 and math.isfinite(row.measured_ms)
        assert all(v >= 0 and math.isfinite(v) for v in row.predicted_ms.values())
        assert row.bound in ("compute", "memory", "overhead")
    nodes = {n.name for n in trace_model(model, (1, 3, 64, 64)).call_nodes()}
    assert {r.name for r in result.rows} == nodes
    s = result.summary
    assert s["model_measured_ms"] > 0 and set(s["predictors"]) == {"flops", "mac", "roofline"}
    assert s["sum_of_layers_ms"] == pytest.approx(sum(r.measured_ms for r in result.rows))
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model.eval()


def test_bench_model_predictions_are_sums_of_layers() -> None:
    result = bench(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 16, 16), repeats=2, warmup=1)
    for p in ("flops", "mac", "roofline"):
        assert result.summary["model_predicted_ms"][p] == pytest.approx(sum(r.predicted_ms[p] for r in result.rows))
    conv = result.rows[0]
    cal = result.calibration
    assert conv.predicted_ms["flops"] == pytest.approx(result.report.layers[0].flops / cal.conv_flops_per_s * 1e3)
    assert conv.predicted_ms["mac"] == pytest.approx(result.report.layers[0].mac * 4 / cal.bytes_per_s * 1e3)


def test_calibration_is_cached_and_invalidated(private_cache: Path) -> None:
    first, cached = calibrate("cpu", 1)
    assert not cached and first.conv_flops_per_s > 0 and first.bytes_per_s > 0
    again, cached = calibrate("cpu", 1)
    assert cached and again == first
    other_threads, cached = calibrate("cpu", 2)
    assert not cached and other_threads.threads == 2
    _, cached = calibrate("cpu", 1, redo=True)
    assert not cached
    files = list(private_cache.glob("calibration-*.json"))
    assert len(files) == 2 and cache_dir() == private_cache
    for f in files:
        f.write_text("{not json")
    remeasured, cached = calibrate("cpu", 1)
    assert not cached  # a corrupt cache file is measured again, not trusted
    path = private_cache / f"calibration-{cache_key(remeasured.device, 1, 'float32')}.json"
    data = json.loads(path.read_text())
    assert {"device", "threads", "dtype", "torch_version"} <= set(data) and data["threads"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_bench_on_cuda() -> None:
    result = bench(zoo_model("resnet18"), (1, 3, 64, 64), device="cuda", repeats=3, warmup=1)
    assert result.measurement.device.startswith("cuda:")
    assert all(r.measured_ms > 0 for r in result.rows)


def test_cuda_request_without_gpu_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code = main(["bench", "resnet18", "--device", "cuda", "--repeats", "1"])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_bench_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "resnet18", "--input", "1,3,32,32", "--repeats", "2", "--warmup", "1", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"device", "layers", "summary"} <= set(data)
    assert set(data["layers"][0]) >= {"name", "measured_ms", "predicted_ms", "bound"}
    assert set(data["layers"][0]["predicted_ms"]) == {"flops", "mac", "roofline"}
    assert {"spearman", "pearson", "mape"} == set(data["summary"]["predictors"]["roofline"])
    assert data["summary"]["model_measured_ms"] > 0
