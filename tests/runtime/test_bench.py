"""Runtime cross-check: real (small) timings, joins by node name, metrics on hand-computed data, calibration cache."""

from __future__ import annotations

import copy
import json
import math
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from costmodel_cli.main import main
from torch import nn

from costmodel.runtime.bench import bench
from costmodel.runtime.calibrate import calibrate
from costmodel.runtime.calibration import Calibration
from costmodel.runtime.measure import device_name
from costmodel.runtime.stats import mape, pearson, spearman
from costmodel.trace.fx_trace import trace_model
from tests.conftest import zoo_model


@pytest.fixture(autouse=True, scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One private calibration cache for this module: the real calibration runs once, not per test."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COSTMODEL_CACHE_DIR", str(path))
        yield path


def fake_calibration(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32) -> Calibration:
    """A complete, valid calibration with made-up rates (every line and overhead present)."""
    from costmodel.runtime.calibration import COMPUTE_KINDS, MEMORY_KINDS, OVERHEADS

    return Calibration(
        device=device_name(torch.device(device)),
        threads=threads,
        dtype=str(dtype).removeprefix("torch."),
        torch_version=torch.__version__,
        host=platform.node(),
        created="2026-01-01T00:00:00+00:00",
        compute={kind: (1e-5, 1e-10, 1e-11) for kind in COMPUTE_KINDS},
        memory={kind: (1e-6, 1e-10) for kind in MEMORY_KINDS},
        overhead_s={name: 1e-6 for name in OVERHEADS},
        reference_s=5e-3,
    )


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
    assert {layer.node for layer in result.report.layers} == nodes == set(result.measurement.nodes)  # joined by node
    s = result.summary
    assert s["model_measured_ms"] > 0 and set(s["predictors"]) == {"flops", "mac", "roofline"}
    assert s["sum_of_layers_ms"] == pytest.approx(sum(r.measured_ms for r in result.rows))
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model.eval()


def test_bench_measures_the_model_in_interleaved_rounds_and_reports_the_spread() -> None:
    result = bench(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 16, 16), repeats=6, warmup=1)
    rounds = result.measurement.model_rounds_ms
    assert len(rounds) == 3 and all(r > 0 for r in rounds)
    s = result.summary
    spread = 100 * (max(rounds) - min(rounds)) / sorted(rounds)[1]  # (slowest − fastest) / median
    assert s["model_spread_pct"] == pytest.approx(spread)
    for p in ("flops", "mac", "roofline"):
        assert s["model_error_within_spread"][p] == (abs(s["model_error_pct"][p]) <= spread)
    assert result.to_dict()["device"]["model_rounds_ms"] == rounds
    # the drift probe is reported: the reference network's time now over its time at calibration
    assert 0.2 < s["machine_drift"] < 5 and result.calibration.reference_s > 0


def test_fit_line_recovers_a_known_line_and_weights_relative_error() -> None:
    from costmodel.runtime.microbench import fit_line

    xs = [1.0, 10.0, 100.0, 1000.0]
    a, b = fit_line(xs, [2e-6 + 3e-9 * x for x in xs])
    assert a == pytest.approx(2e-6) and b == pytest.approx(3e-9)
    # a negative intercept falls back to a line through the origin
    a, b = fit_line([1.0, 2.0, 3.0], [0.5, 2.0, 3.5])
    assert a == 0.0 and b > 0


def test_real_calibration_is_sane() -> None:
    from costmodel.runtime.calibration import COMPUTE_KINDS, MEMORY_KINDS, OVERHEADS, problems

    cal, _ = calibrate("cpu", 1)
    assert set(cal.compute) == set(COMPUTE_KINDS) and set(cal.memory) == set(MEMORY_KINDS)
    assert set(cal.overhead_s) == set(OVERHEADS)
    assert problems(cal, cal.device, 1, "float32") == []
    # every fitted rate is a positive finite number (orders between kinds are timings: benchmarks/calibration_orders.py)
    assert all(math.isfinite(v) and v > 0 for rates in cal.memory.values() for v in rates[1:])


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


def test_a_model_fx_cannot_trace_is_benched_per_leaf_module() -> None:
    """The aten-level walk's rows, summed per leaf module, each leaf timed by hooks; the hooks are gone
    afterwards and the model's outputs unchanged."""
    from tests.models.custom import AlwaysBranchNet

    model = AlwaysBranchNet().eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        before = model(x)
    result = bench(model, (1, 3, 8, 8), repeats=4, warmup=1)
    leaves = {path for path, m in model.named_modules() if path and not list(m.children())}
    assert {r.name for r in result.rows} <= leaves and result.rows
    by_module: dict[str, int] = {}
    for row in result.report.layers:
        by_module[row.module or ""] = by_module.get(row.module or "", 0) + row.flops
    for row in result.rows:
        assert row.measured_ms > 0 and row.flops == by_module[row.name]
        assert row.op == type(model.get_submodule(row.name)).__name__
    assert result.summary["rows"].startswith("leaf modules")
    assert len(result.measurement.model_rounds_ms) >= 2
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with torch.no_grad():
        assert torch.equal(model(x), before)


def test_the_drift_probe_and_calibration_leave_the_callers_rng_alone() -> None:
    from costmodel.runtime.microbench import reference_seconds

    torch.manual_seed(1234)
    before = torch.get_rng_state()
    reference_seconds("cpu", torch.float32, 1, repeats=1)
    assert torch.equal(torch.get_rng_state(), before)


def test_measuring_commands_take_several_keyword_and_integer_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    from costmodel_cli.options import parse_inputs

    from costmodel import analyze, load_model
    from tests.conftest import MODELS

    corpus = MODELS / "corpus.py"
    two = [f"{corpus}:TwoInputs", "--input", "1,3,8,8", "--input", "1,3,8,8", "--input", "mask=1,8,8,8:bool"]
    tokens = [f"{corpus}:LSTMTagger", "--input", "2,7:int64"]
    quick = ["--repeats", "1", "--format", "json"]
    for command in (["bench", *two, "--warmup", "0"], ["bench", *tokens, "--warmup", "0"]):
        assert main([*command, *quick]) == 0
        data = json.loads(capsys.readouterr().out)
        given = tuple(value for flag, value in zip(command, command[1:]) if flag == "--input")
        analysed = analyze(load_model(command[1]), parse_inputs(given))
        assert [r["name"] for r in data["layers"]] == [r.name for r in analysed.layers]  # every row timed
        assert all(r["measured_ms"] > 0 for r in data["layers"])
    assert main(["compare", *tokens, "--measure", *quick]) == 0
    row = json.loads(capsys.readouterr().out)["models"][0]
    assert row["measured_ms"] > 0 and json.loads(json.dumps(row))["flops"] > 0
    assert main(["lint", *two, "--measure", *quick]) == 0
    assert "elementwise_time_share" in json.loads(capsys.readouterr().out)["summary"]["G4"]


def test_bench_builds_real_inputs_from_the_specs() -> None:
    from costmodel.inputs import TensorSpec
    from costmodel.runtime.measure import real_inputs

    args, kwargs = real_inputs(
        ((TensorSpec((2, 3)), TensorSpec((2, 5), torch.int64)), {"mask": TensorSpec((2, 5), torch.bool)}),
        torch.float16,
        torch.device("cpu"),
    )
    assert args[0].dtype == torch.float16 and args[0].shape == (2, 3) and args[0].std() > 0
    assert torch.equal(args[1], torch.ones(2, 5, dtype=torch.int64)) and bool(kwargs["mask"].all())
    state = torch.random.get_rng_state()
    real_inputs((4, 4), torch.float32, torch.device("cpu"))
    assert torch.equal(state, torch.random.get_rng_state())  # a private generator: the global RNG is not advanced
