"""Digest of the STDP network's state after training: is a change bit-identical, as meant?

    python bench/stdp_digest.py [--root DIR] [--config FILE] [--n-exc N] [--samples K]
                                [--seed S] [--out FILE]

Trains the network of the checkout at ``--root`` (default: this one) on the first ``--samples``
training images (``python -m bioclf.stdp.train --n-train K``, one epoch, in a temporary folder
with a build folder of its own, so the pipeline's builds are left alone) and prints the SHA-256
of each array of the trained state (``state.npz``: weights, theta, the traces, ...) and of all
of them together, with the seconds the training took. A change meant to leave results as they
were (a C++ patch, a compiler flag, a refactoring) must leave the digest as it was::

    git worktree add /tmp/bioclf-base HEAD~1
    python bench/stdp_digest.py --root /tmp/bioclf-base --samples 3000
    python bench/stdp_digest.py --samples 3000

Both runs use this environment's Python and libraries; only the ``bioclf`` package (and the
equation and configuration files, read relative to ``--root``) differ. Check both network
sizes whose code paths differ (``--n-exc 100`` and ``400``: the synaptic loop lists short
ranges but goes range by range over long ones) and both STDP rules (``--config`` a copy of
``config/config.yaml`` with ``input_exc: equations/dc_stdp.yaml`` for the paper's). The
digest depends on the processor only where the code does: the committed STDP results came out
bit for bit on an AMD Zen 4 and an Intel Xeon (``docs/usage.md``, Reproducibility).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioclf.io import digest  # noqa: E402
from bioclf.tasks import OUTPUTS, code_commit  # noqa: E402


def digests(state_file: Path) -> dict[str, str]:
    """SHA-256 of each array of an ``.npz`` file (`bioclf.io.digest`), and of all of them: ``*``."""
    with np.load(state_file) as state:
        out = {key: digest(key, state[key]) for key in sorted(state.files)}
    out["*"] = digest(*out.values())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout to train (default: this)")
    p.add_argument("--config", type=Path, help="configuration (default: ROOT/config/config.yaml)")
    p.add_argument(
        "--n-exc", type=int, default=100, help="excitatory neurons (default: %(default)s)"
    )
    p.add_argument(
        "--samples", type=int, default=3000, help="training images (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial network and input spikes (default: %(default)s)",
    )
    p.add_argument("--out", type=Path, help="append the result, one JSON line, to this file")
    args = p.parse_args()
    root = args.root.resolve()
    if not (root / "bioclf" / "stdp" / "train.py").is_file():
        p.error(f"--root {root}: not a bioclf checkout (no bioclf/stdp/train.py)")
    config = (args.config or root / "config" / "config.yaml").resolve()
    cfg = yaml.safe_load(config.read_text())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryDirectory(prefix="stdp_digest_") as tmp:
        tmp = Path(tmp)
        cfg["build"] = str(tmp / "build")
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        # The package imported must be the one under --root, not this environment's install.
        probe = [sys.executable, "-c", "import bioclf; print(bioclf.__file__)"]
        where = subprocess.run(probe, env=env, cwd=root, capture_output=True, text=True, check=True)
        if not Path(where.stdout.strip()).resolve().is_relative_to(root):
            raise SystemExit(f"bioclf imports from {where.stdout.strip()}, not from {root}")
        cmd = [sys.executable, "-m", "bioclf.stdp.train", "--config", str(tmp / "config.yaml"),
               "--n-exc", str(args.n_exc), "--seed", str(args.seed), "--epochs", "1",
               "--n-train", str(args.samples), "--out", str(tmp / "trained")]  # fmt: skip
        print("+", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=root, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        arrays = digests(tmp / "trained" / "state.npz")
    result = {
        "root": str(root),
        "commit": code_commit(root, OUTPUTS) or "unknown",
        "config": str(config),
        "n_exc": args.n_exc,
        "samples": args.samples,
        "seed": args.seed,
        "digest": arrays.pop("*"),
        "arrays": {k: v[:16] for k, v in arrays.items()},
        "seconds_with_build": round(seconds, 1),
    }
    for key, value in result["arrays"].items():
        print(f"  {key:<24} {value}")
    print(f"digest {result['digest'][:16]}  ({result['commit']}, N={args.n_exc}, "
          f"{args.samples} samples, seed {args.seed}, {seconds:.0f} s with the build)")  # fmt: skip
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
