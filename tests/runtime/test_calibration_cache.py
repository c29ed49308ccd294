"""A calibration you can trust: cached per host/device/threads/dtype/torch, validated on load,
re-measured with a reason when corrupt, written atomically under a lock (concurrent runs measure
once), kept in memory when the cache directory cannot be written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from costmodel.runtime.calibrate import calibrate
from costmodel.runtime.calibration import Calibration, problems
from costmodel.runtime.calibration_cache import cache_key
from costmodel.runtime.measure import device_name
from tests.runtime.test_bench import fake_calibration


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A private cache directory and a run_calibration that records each measurement instead of timing."""
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path / "cache"))
    runs: list[int] = []

    def fake(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32) -> Calibration:
        runs.append(threads)
        return fake_calibration(device, threads, dtype)

    monkeypatch.setattr("costmodel.runtime.calibrate.run_calibration", fake)
    return runs


def _cache_file(tmp_path: Path, threads: int = 1) -> Path:
    return tmp_path / "cache" / f"calibration-{cache_key(device_name(torch.device('cpu')), threads, 'float32')}.json"


def test_cached_per_configuration_and_remeasured_on_request(tmp_path: Path, counted: list[int]) -> None:
    first, source = calibrate("cpu", 1)
    assert source.origin == "measured" and source.path == _cache_file(tmp_path) and source.note is None
    again, source = calibrate("cpu", 1)
    assert source.origin == "cache" and again == first and "cached" in source.describe(again)
    assert calibrate("cpu", 2)[1].origin == "measured"
    assert calibrate("cpu", 1, redo=True)[1].origin == "measured"
    data = json.loads(_cache_file(tmp_path).read_text())
    assert {"host", "created", "device", "threads", "dtype", "torch_version"} <= set(data)
    assert counted == [1, 2, 1]


def _corrupt(data: dict, how: str) -> str:
    if how == "truncated":
        return json.dumps(data)[:50]
    if how == "zero slope":
        data["compute"]["dense"] = [1e-5, 0.0, 1e-11]
    elif how == "nan":
        data["memory"]["copy"] = [float("nan"), 1e-10]
    elif how == "string":
        data["compute"]["matmul"] = ["fast", "very"]
    elif how == "one element":
        data["memory"]["batch_norm"] = [1e-9]
    elif how == "missing kind":
        del data["compute"]["depthwise"]
    elif how == "negative overhead":
        data["overhead_s"]["view"] = -1.0
    elif how == "other host":
        data["host"] = "someone-elses-machine"
    elif how == "old format":
        del data["host"]
    return json.dumps(data)


@pytest.mark.parametrize(
    "how",
    ["truncated", "zero slope", "nan", "string", "one element", "missing kind", "negative overhead", "other host", "old format"],
)
def test_a_corrupt_cache_is_measured_again_with_the_reason(tmp_path: Path, counted: list[int], how: str) -> None:
    calibrate("cpu", 1)
    path = _cache_file(tmp_path)
    path.write_text(_corrupt(json.loads(path.read_text()), how))
    cal, source = calibrate("cpu", 1)
    assert source.origin == "measured" and source.note is not None and str(path) in source.note
    assert problems(cal, cal.device, 1, "float32") == []
    assert calibrate("cpu", 1)[1].origin == "cache"  # the fresh file replaced the corrupt one
    assert counted == [1, 1]


def test_the_validator_names_what_is_wrong() -> None:
    good = fake_calibration()
    assert problems(good, good.device, 1, "float32") == []
    bad = Calibration(**{**good.__dict__, "compute": {**good.compute, "dense": (1e-5, 0.0, 1e-11)}})
    assert any("dense" in p and "positive rate" in p for p in problems(bad, good.device, 1, "float32"))
    short = Calibration(**{**good.__dict__, "compute": {**good.compute, "dense": (1e-5, 1e-10)}})
    assert any("dense" in p and "3 numbers" in p for p in problems(short, good.device, 1, "float32"))
    no_reference = Calibration(**{**good.__dict__, "reference_s": 0.0})
    assert any("reference time" in p for p in problems(no_reference, good.device, 1, "float32"))
    old = Calibration(**{**good.__dict__, "version": 1})
    assert any("format 1" in p for p in problems(old, good.device, 1, "float32"))
    assert any("threads" in p for p in problems(good, good.device, 4, "float32"))


def test_an_unwritable_cache_directory_is_detected_before_measuring(tmp_path: Path, counted: list[int]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "cache"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        cal, source = calibrate("cpu", 1)
        assert source.origin == "memory" and source.path is None and "in-memory" in (source.note or "")
        assert calibrate("cpu", 1)[0] == cal and counted == [1]  # measured once per process
    finally:
        locked.chmod(0o700)


def test_a_cache_directory_that_cannot_exist_falls_back_to_memory(monkeypatch: pytest.MonkeyPatch, counted: list[int]) -> None:
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", "/proc/costmodel-cannot-create-this")
    _, source = calibrate("cpu", 3)
    assert source.origin == "memory" and "cannot write the calibration cache" in (source.note or "")


def test_concurrent_runs_calibrate_once(tmp_path: Path) -> None:
    """Four processes start together; the lock makes one measure and the others read its file."""
    script = textwrap.dedent(
        """
        import sys, time
        import costmodel.runtime.calibrate as c
        from tests.runtime.test_bench import fake_calibration
        def slow(device="cpu", threads=1, dtype=None):
            print("MEASURED", flush=True)
            time.sleep(1.0)
            return fake_calibration(device, threads)
        c.run_calibration = slow
        print(c.calibrate("cpu", 1)[1].origin)
        """
    )
    env = {**os.environ, "COSTMODEL_CACHE_DIR": str(tmp_path / "shared"), "PYTHONPATH": str(Path(__file__).parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(out.count("MEASURED") for out in outputs) == 1
    assert sorted(out.split()[-1] for out in outputs) == ["cache", "cache", "cache", "measured"]
    assert not list((tmp_path / "shared").glob("*.tmp"))


def test_a_calibration_run_is_announced_and_a_cache_hit_is_not(counted: list[int], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="costmodel"):
        calibrate("cpu", 1)
        calibrate("cpu", 1)
    notes = [r.getMessage() for r in caplog.records if r.name == "costmodel"]
    assert len(notes) == 1 and "calibrating" in notes[0] and "about 20 s" in notes[0]


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("naive time", "time zone"),
        ("number time", "time zone"),
        ("denormal rate", "normal positive rate"),
        ("huge cost", "finite costs in"),
    ],
)
def test_hostile_cache_contents_are_measured_again(tmp_path: Path, counted: list[int], how: str, reason: str) -> None:
    calibrate("cpu", 1)
    path = _cache_file(tmp_path)
    data = json.loads(path.read_text())
    if how == "naive time":
        data["created"] = "2026-01-01T00:00:00"
    elif how == "number time":
        data["created"] = 12345
    elif how == "denormal rate":
        data["memory"]["copy"] = [0.0, 1e-320]
    else:
        data["memory"]["copy"] = [1e300, 1e-10]
    path.write_text(json.dumps(data))
    cal, source = calibrate("cpu", 1)
    assert source.origin == "measured" and reason in (source.note or "")
    assert counted == [1, 1] and not problems(cal, cal.device, 1, "float32")


@pytest.mark.parametrize("what", ["cache file is a directory", "lock is a directory"])
def test_a_directory_in_place_of_the_cache_or_lock_is_worked_around(
    tmp_path: Path, counted: list[int], what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("costmodel.runtime.calibrate._IN_MEMORY", {})  # measured in this process before: start afresh
    path = _cache_file(tmp_path)
    target = path if what == "cache file is a directory" else path.with_suffix(".lock")
    target.mkdir(parents=True)
    cal, source = calibrate("cpu", 1)
    assert source.origin == "memory" and "not a regular file" in (source.note or "")
    assert target.is_dir() and counted == [1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_lock_keeps_the_calibration_in_memory(
    tmp_path: Path, counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("costmodel.runtime.calibrate._IN_MEMORY", {})
    lock = _cache_file(tmp_path).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    lock.touch()
    lock.chmod(0o444)
    cal, source = calibrate("cpu", 1)
    assert source.origin == "memory" and counted == [1]
