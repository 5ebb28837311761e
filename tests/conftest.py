"""Shared test fixtures: where the real datasets are, and skipping when absent; the
benchmark scripts imported as modules."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
NWUCLA_ROOT = SHARED_DATASETS / "nw-ucla" / "all_sqe"
NTU_ROOT = SHARED_DATASETS / "ntu-samples" / "nturgb+d_skeletons"
NTU_STATISTICS = SHARED_DATASETS / "ntu-samples" / "statistics"
PKU_ROOT = SHARED_DATASETS / "pku-mmd-sample"
BENCHMARKS = REPO / "benchmarks"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (see ../shared/datasets/README.md)")
    return path


@pytest.fixture
def nwucla_root() -> Path:
    return _require(NWUCLA_ROOT)


@pytest.fixture
def ntu_root() -> Path:
    return _require(NTU_ROOT)


@pytest.fixture
def ntu_statistics() -> Path:
    return _require(NTU_STATISTICS)


@pytest.fixture
def pku_root() -> Path:
    return _require(PKU_ROOT)


@pytest.fixture
def import_benchmark(monkeypatch):
    """``import_benchmark("crrl.table")``: a fresh import of ``benchmarks/crrl/table.py`` as
    ``benchmarks.crrl.table`` (and of every ``benchmarks`` module it imports), with the repo
    root on ``sys.path`` for this test only."""
    monkeypatch.syspath_prepend(str(REPO))

    def load(name: str):
        for module in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
            sys.modules.pop(module, None)
        return importlib.import_module(f"benchmarks.{name}")

    return load


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A dataset cache of the test's own (``pytestmark = usefixtures("private_cache")``)."""
    monkeypatch.setenv("SKELSSL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Keep the dataset cache of the test run out of the user's ~/.cache."""
    import os

    previous = os.environ.get("SKELSSL_CACHE")
    os.environ["SKELSSL_CACHE"] = str(tmp_path_factory.mktemp("skelssl-cache"))
    yield
    if previous is None:
        os.environ.pop("SKELSSL_CACHE", None)
    else:
        os.environ["SKELSSL_CACHE"] = previous
