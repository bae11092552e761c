"""Shared fixtures; markers say what a test needs (standalone: a C++ compiler, cuda: nvcc)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EQUATIONS = ROOT / "equations"

DC_MODELS = {
    "exc": EQUATIONS / "dc_exc.yaml",
    "inh": EQUATIONS / "dc_inh.yaml",
    "input_exc": EQUATIONS / "dc_stdp.yaml",
    "exc_inh": EQUATIONS / "dc_exc_inh.yaml",
    "inh_exc": EQUATIONS / "dc_inh_exc.yaml",
}


def pytest_collection_modifyitems(config, items):
    no_cxx = shutil.which("g++") is None and shutil.which("c++") is None
    no_nvcc = shutil.which("nvcc") is None
    for item in items:
        if no_cxx and "standalone" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="no C++ compiler for cpp_standalone"))
        if no_nvcc and "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="nvcc not found: brian2cuda cannot compile"))


@pytest.fixture(scope="session")
def build_root(tmp_path_factory) -> Path:
    """One build directory for the session, so compiled projects are reused across tests."""
    return tmp_path_factory.mktemp("brian2_build")


@pytest.fixture(autouse=True)
def _reset_brian():
    """Each test starts from Brian2's runtime device and default preferences."""
    yield
    from brian2 import prefs, set_device

    set_device("runtime")
    prefs.reset_to_defaults()
