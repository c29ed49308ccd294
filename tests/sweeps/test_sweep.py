"""Sweeps held to single analyses: every candidate's figures equal ``analyze`` and ``lint`` of the model
its builder returns; failures are rows; a pool gives what a serial run gives; streams resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from costmodel import analyze, lint
from costmodel.errors import CostModelError
from costmodel.sweeps.run import sweep
from costmodel.sweeps.space import SpaceError
from costmodel.sweeps.stream import StreamError
from costmodel.zoo.shufflenet_v2 import shufflenet_v2
from tests.sweeps.builders import grouped_net

BUILDER = "tests.sweeps.builders:grouped_net"
GRID = ["width=16,24,30", "groups=1,2,4", "depth=0,1,2", "residual=True,False"]
FIGURES = ("index", "values", "status", "error", "flops", "mac", "params", "contraction_flops", "elementwise_mac",
           "findings", "findings_by_guideline", "uncounted", "walk", "predicted_ms", "front")  # fmt: skip


def figures(result: object) -> list[dict[str, object]]:
    """Every row without its timings (which differ run to run)."""
    return [{k: v for k, v in r.to_dict().items() if k in FIGURES} for r in result]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def serial() -> object:
    return sweep(BUILDER, GRID, (1, 3, 32, 32), workers=1)


def test_every_candidate_equals_its_own_analysis_and_lint(serial: object) -> None:
    rows = list(serial)  # type: ignore[call-overload]
    assert len(rows) == 54
    for row in rows:
        knobs = row.values
        if knobs["depth"] == 0:
            assert row.status == "failed" and row.error == "building failed: ValueError: depth must be at least 1"
            continue
        if knobs["width"] % knobs["groups"]:
            assert row.status == "failed" and "building failed: ValueError" in row.error and "groups" in row.error
            continue
        model = grouped_net(**knobs)
        report = analyze(model, (1, 3, 32, 32))
        totals = report.totals
        assert row.ok and (row.flops, row.mac, row.params) == (totals["flops"], totals["mac"], totals["params"])
        assert row.contraction_flops == report.contraction_flops and row.elementwise_mac == report.elementwise_mac
        found = lint(model, (1, 3, 32, 32)).findings
        assert row.findings == len(found)
        assert row.findings_by_guideline == {g: sum(f.guideline == g for f in found) for g in ("G1", "G2", "G3", "G4")}
        assert row.via == "analysis" and row.uncounted == []


def test_a_closed_form_candidate(serial: object) -> None:
    # width 16, 1 group, depth 1, residual at 32x32: stem 3x3 s2 → 16x16x16; 1x1 16→16; depthwise 3x3; head
    row = next(r for r in serial if r.values == {"width": 16, "groups": 1, "depth": 1, "residual": True})  # type: ignore[attr-defined]
    hw = 16 * 16
    stem = hw * 16 * 3 * 9  # contraction multiply-adds (bias adds are not contractions, as in FlopCounterMode)
    assert row.params == (3 * 9 * 16 + 16) + 16 * 16 + 2 * 16 + 16 * 9 + (16 * 10 + 10)
    conv_flops = stem + hw * 16 * 16 + hw * 16 * 9 + 16 * 10
    assert row.contraction_flops == conv_flops


def test_a_pool_gives_exactly_the_serial_rows(serial: object) -> None:
    pooled = sweep(BUILDER, GRID, (1, 3, 32, 32), workers=2)
    assert figures(pooled) == figures(serial)


def test_the_front_is_over_the_costed_candidates(serial: object) -> None:
    ok = [r for r in serial if r.ok]  # type: ignore[attr-defined]
    for row in ok:
        beaten = any(o.flops >= row.flops and o.mac <= row.mac and (o.flops, o.mac) != (row.flops, row.mac) for o in ok)
        assert row.front == (not beaten)
    assert not any(r.front for r in serial if not r.ok)  # type: ignore[attr-defined]


def test_resolution_axis_scaled_by_the_formula_equals_analysis_at_each_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import costmodel.sweeps.evaluate as evaluate

    sizes = [96, 113, 160, 224, 257]
    assert len(sizes) < evaluate.FORMULA_FROM  # few sizes: analysed at each (cheaper than deriving a formula)
    monkeypatch.setattr(evaluate, "FORMULA_FROM", 3)
    result = sweep("shufflenet_v2", ["width=0.5,1.0", f"R={','.join(map(str, sizes))}"], (1, 3, "R", "R"), workers=1)
    assert {r.via for r in result} == {"analysis", "formula"}
    for row in result:
        model = shufflenet_v2(width=row.values["width"])
        shape = (1, 3, row.values["R"], row.values["R"])
        report = analyze(model, shape)
        assert (row.flops, row.mac, row.params) == (report.totals["flops"], report.totals["mac"], report.totals["params"])
        assert row.findings == len(lint(model, shape).findings)


def test_sizes_outside_a_models_range_are_failed_rows() -> None:
    result = sweep("tests.sweeps.builders:fixed_size_net", ["width=4,8", "S=32,48,64"], (1, 3, "S", "S"), workers=1)
    by_size = {(r.values["width"], r.values["S"]): r for r in result}
    for width in (4, 8):
        assert by_size[width, 32].ok
        assert by_size[width, 32].flops == analyze(FixedSize(width), (1, 3, 32, 32)).totals["flops"]
        for s in (48, 64):
            assert not by_size[width, s].ok and by_size[width, s].error and "\n" not in by_size[width, s].error


def FixedSize(width: int) -> torch.nn.Module:  # noqa: N802
    from tests.sweeps.builders import fixed_size_net

    return fixed_size_net(width)


def test_random_sample_is_the_seeded_subset_of_the_grid() -> None:
    full = sweep(BUILDER, ["width=8,16", "groups=1,2", "depth=1,2,3"], (1, 3, 16, 16), workers=1)
    sample = sweep(BUILDER, ["width=8,16", "groups=1,2", "depth=1,2,3"], (1, 3, 16, 16), random=5, seed=3, workers=1)
    assert len(sample) == 5
    again = sweep(BUILDER, ["width=8,16", "groups=1,2", "depth=1,2,3"], (1, 3, 16, 16), random=5, seed=3, workers=1)
    assert [r.index for r in sample] == [r.index for r in again]
    by_index = {r.index: r for r in full}
    for r in sample:
        same = by_index[r.index]
        assert (r.values, r.flops, r.mac) == (same.values, same.flops, same.mac)


def test_the_stream_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "sweep.jsonl"
    grid = ["width=8,16", "groups=1,2", "depth=1,2"]
    full = sweep(BUILDER, grid, (1, 3, 16, 16), workers=1, stream=path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["sweep"]["builder"] == BUILDER and len(lines) == 1 + len(full)
    # stopped after three rows, the fourth cut off mid-write
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][:25])
    seen: list[int] = []
    resumed = sweep(BUILDER, grid, (1, 3, 16, 16), workers=1, stream=path, resume=True, progress=lambda r: seen.append(r.index))
    assert resumed.resumed == 3 and len(seen) == len(full) - 3
    assert figures(resumed) == figures(full)
    assert [json.loads(x)["row"]["index"] for x in path.read_text().splitlines()[1:]] != []  # every line parses again
    assert len(path.read_text().splitlines()) == 1 + len(full)


def test_a_stopped_sweep_keeps_every_finished_row(tmp_path: Path) -> None:
    path = tmp_path / "stopped.jsonl"

    def stop_after_two(row: object, count: list[int] = [0]) -> None:  # noqa: B006
        count[0] += 1
        if count[0] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(BUILDER, ["width=8,16", "depth=1,2"], (1, 3, 16, 16), workers=1, stream=path, progress=stop_after_two)
    assert len(path.read_text().splitlines()) == 1 + 2


def test_resuming_another_sweeps_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    sweep(BUILDER, ["width=8,16"], (1, 3, 16, 16), workers=1, stream=path)
    with pytest.raises(StreamError, match="another sweep"):
        sweep(BUILDER, ["width=8,16"], (1, 3, 32, 32), workers=1, stream=path, resume=True)
    path.write_text('{"row": 1}\n')
    with pytest.raises(StreamError, match="not a sweep stream"):
        sweep(BUILDER, ["width=8,16"], (1, 3, 16, 16), workers=1, stream=path, resume=True)


def test_setup_errors_are_one_line() -> None:
    with pytest.raises(CostModelError, match="not an axis"):
        sweep(BUILDER, ["width=8"], (1, 3, "R", "R"))
    with pytest.raises(SpaceError, match="latency"):
        sweep(BUILDER, ["width=8"], (1, 3, 16, 16), objectives=("latency",))
    with pytest.raises(CostModelError, match="unknown builder"):
        sweep("no_such_space", ["width=8"], (1, 3, 16, 16))
    with pytest.raises(SpaceError, match="sample it with --random"):
        sweep(BUILDER, ["width=1:100000", "depth=1:100000"], (1, 3, 16, 16))
    result = sweep("tests.sweeps.builders:not_a_module", ["width=8"], (1, 3, 16, 16))
    assert result.rows[0].error == "building failed: the builder returned dict, not an nn.Module"
    result = sweep(BUILDER, ["colour=1"], (1, 3, 16, 16))
    assert result.rows[0].error == "building failed: the builder takes no argument 'colour'"


def test_a_sweep_leaves_the_process_state_alone() -> None:
    torch.manual_seed(1)
    random.seed(1)
    np.random.seed(1)
    states = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    sweep(BUILDER, ["width=8,16", "depth=1,2"], (1, 3, 16, 16), workers=2)
    sweep(BUILDER, ["width=8,16", "R=16,20,24"], (1, 3, "R", "R"), workers=1)
    assert torch.equal(torch.get_rng_state(), states[0]) and random.getstate() == states[1]
    assert (np.random.get_state()[1] == states[2]).all()
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == (threads, grad)
