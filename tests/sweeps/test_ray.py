"""A sweep as Ray tasks on a local Ray instance gives exactly the rows of a serial run and of a pool."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from costmodel.sweeps.run import sweep
from tests.sweeps.test_sweep import figures

ray = pytest.importorskip("ray")

GRID = ["width=8,16,24", "groups=1,2,3", "depth=0,1,2"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # Ray's sockets need a short path; its files stay in a temporary folder, its token auth off (no file in $HOME)
    folder = tempfile.mkdtemp(prefix="cmray", dir="/tmp")
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=folder)
    try:
        yield
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        shutil.rmtree(folder, ignore_errors=True)


def test_ray_tasks_give_the_serial_and_pool_rows(local_ray: None) -> None:
    serial = sweep("tests.sweeps.builders:grouped_net", GRID, (1, 3, 16, 16), workers=1)
    on_ray = sweep("tests.sweeps.builders:grouped_net", GRID, (1, 3, 16, 16), ray="auto")
    pooled = sweep("tests.sweeps.builders:grouped_net", GRID, (1, 3, 16, 16), workers=2)
    assert figures(on_ray) == figures(serial) == figures(pooled)
    assert sum(r.ok for r in on_ray) > 0 and sum(not r.ok for r in on_ray) > 0  # failures travel back as rows


def test_ray_with_sizes_and_a_file_builder(local_ray: None, tmp_path: object) -> None:
    builders = os.path.join(os.path.dirname(__file__), "builders.py")
    grid = ["width=8,16", "R=16,24,32"]
    serial = sweep(f"{builders}:grouped_net", grid, (1, 3, "R", "R"), workers=1)
    on_ray = sweep(f"{builders}:grouped_net", grid, (1, 3, "R", "R"), ray="auto")
    assert figures(on_ray) == figures(serial)
