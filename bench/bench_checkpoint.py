"""Size and write time of an STDP training checkpoint: every sample's counts against a window.

    python bench/bench_checkpoint.py N EPOCHS

Writes, with the project's `save_npz`, the arrays a training run of `EPOCHS` epochs of 60,000
samples at size N saves after its last chunk: in the earlier form (the spike counts of
every sample of every epoch) and in the current one (those of the last `RUNNING_WINDOW`
samples), each beside the state and per-sample records both forms hold. Array contents do
not matter to `np.savez` (uncompressed), so they are zeros and random weights.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bioclf import tasks
from bioclf.io import save_npz
from bioclf.stdp.run import RUNNING_WINDOW

N_TRAIN = 60000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n_exc", metavar="N", type=int, help="excitatory neurons N")
    p.add_argument(
        "epochs", metavar="EPOCHS", type=int, help="epochs of 60,000 samples the training ran"
    )
    args = p.parse_args()
    n, epochs = args.n_exc, args.epochs
    rng = np.random.default_rng(0)
    common = {"state/s_in.w": rng.random(784 * n), "state/exc.theta": rng.random(n)}
    for j in range(epochs):
        common[f"rec{j}/reps"] = np.zeros(N_TRAIN, np.int32)
        common[f"rec{j}/intensities"] = np.zeros(N_TRAIN, np.float32)
    forms = {
        "every sample's counts (before)": {
            f"rec{j}/counts": np.zeros((N_TRAIN, n), np.uint16) for j in range(epochs)
        },
        "a window of counts (now)": {
            f"rec{epochs - 1}/window": np.zeros((RUNNING_WINDOW, n), np.uint16)
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, counts in forms.items():
            path = Path(tmp) / "checkpoint.npz"
            start = time.perf_counter()
            save_npz(path, **common, **counts)
            seconds = time.perf_counter() - start
            held = sum(a.nbytes for a in counts.values()) / 1e6
            print(
                f"N={n}, {tasks.counted(epochs, 'epoch')}, {name}: "
                f"{os.path.getsize(path) / 1e6:,.0f} MB written "
                f"per chunk in {seconds:.2f} s; counts held in memory {held:,.0f} MB"
            )
            path.unlink()


if __name__ == "__main__":
    main()
