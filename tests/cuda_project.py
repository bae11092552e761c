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


def build(build_root: Path) -> Simulator:
    """The STDP network (N=10, chunks of 10 samples) built for ``cuda`` in `build_root`."""
    backend = backends.Backend("cuda", build_dir=build_root)
    return Simulator(Models.load(DC_MODELS), Protocol(), 10, 10, 0, backend, NAME)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
