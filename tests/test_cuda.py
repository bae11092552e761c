"""The brian2cuda project of the STDP network is generated and compiled (run only with a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DC_MODELS

from bioclf.brian import backends
from bioclf.stdp.protocol import Models, Protocol
from bioclf.stdp.simulate import Simulator


@pytest.mark.cuda
@pytest.mark.slow
def test_stdp_network_compiles_with_brian2cuda(build_root):
    backend = backends.Backend("cuda", build_dir=build_root)
    sim = Simulator(Models.load(DC_MODELS), Protocol(), 10, 10, 0, backend, "stdp_cuda")
    binary = build_root / "stdp_cuda" / "main"
    assert binary.exists()
    assert binary.read_bytes()[:4] == b"\x7fELF"
    assert "-std=c++17" in (build_root / "stdp_cuda" / "makefile").read_text()
    if backends.gpu_available():  # the same code runs where a GPU is present
        state, res = sim.run_chunk(sim.initial_state, np.zeros((10, 784)), 0, 1, True)
        assert len(res.samples) >= 0
    else:
        with pytest.raises(RuntimeError, match="no GPU"):
            sim.run_chunk(sim.initial_state, np.zeros((10, 784)), 0, 1, True)
