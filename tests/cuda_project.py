"""Generate and compile the STDP network's brian2cuda project, for `test_cuda.py`.

nvcc takes ~10 minutes over this project on a 2-core machine, so conftest.py starts
``python tests/cuda_project.py BUILD_ROOT`` in the background when a session begins and runs
the CUDA tests last: they then find the project compiled (make has nothing left to do).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import DC_MODELS

from bioclf.brian import backends
from bioclf.stdp.protocol import Models, Protocol
from bioclf.stdp.simulate import Simulator

NAME = "stdp_cuda"


def build(build_root: Path, name: str = "cuda") -> Simulator:
    """The STDP network (N=10, chunks of 10 samples) built for backend `name` in `build_root`,
    traced (its threshold margins and spikes recorded, for `bioclf.stdp.parity`): the parity
    test of `test_cuda.py` compares it with ``cpp``, and finds the CUDA project compiled."""
    backend = backends.Backend(name, build_dir=build_root)
    project = NAME if name == "cuda" else f"stdp_{name}"
    return Simulator(Models.load(DC_MODELS), Protocol(), 10, 10, 0, backend, project, trace=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
