"""Speed of STDP training on Brian2's runtime (numpy) backend, bioclf's numpy functions called
as registered against the same behind Brian2's default wrapper.

    python bench/bench_runtime.py [--config config/config.yaml] [--n-exc 20] [--samples 8]

Brian2 wraps a `Function`'s numpy implementation in a unit check that formats the whole
result array into the message of that check on every call, even when it passes;
`bioclf.brian.functions` registers its dimensionless implementations without it. Each
timing runs in a process of its own (a task's heap, not a test session's), the two forms
alternating, `--rounds` times each: the training of `--samples` MNIST training images at size
`--n-exc`, in chunks of 4, with the model files and protocol of `--config`'s stdp section.
Prints seconds per sample; `--out` also writes them, with the machine, as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMS = {"direct": "as registered", "wrapped": "behind Brian2's wrapper"}


def _time_one(config: str, n_exc: int, samples: int, form: str) -> float:
    """Seconds per sample of one training run (this process), timed as `bench_stdp` times a
    compiled one (chunks of 4)."""
    import tempfile

    import bench_stdp

    from bioclf import config as cfgmod
    from bioclf.brian import functions
    from bioclf.data import images_as_float, load_configured
    from bioclf.stdp import setup

    if form == "wrapped":  # Brian2's default numpy implementation back
        for func in [*functions.NAMESPACE.values(), *functions.CONTROL.values()]:
            func.implementations.add_numpy_implementation(func.pyfunc, discard_units=False)
    cfg = cfgmod.load(config)
    images = images_as_float(load_configured(cfg["data"], "train"))[:samples]
    models = (setup.models(cfg), setup.protocol(cfg))
    with tempfile.TemporaryDirectory() as build:  # (the runtime backend builds no project)
        out = bench_stdp.compiled(models, n_exc, images, 1, 4, Path(build), "runtime")
    return out["ms_per_sample"] / 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="config/config.yaml", help="default: %(default)s")
    p.add_argument("--n-exc", type=int, default=20, help="default: %(default)s")
    p.add_argument("--samples", type=int, default=8, help="default: %(default)s")
    p.add_argument("--rounds", type=int, default=2, help="runs of each form (default: 2)")
    p.add_argument("--out", help="also write the results as JSON to this file")
    p.add_argument("--child", choices=sorted(FORMS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(_time_one(args.config, args.n_exc, args.samples, args.child))
        return 0

    from bioclf import tasks

    prov = tasks.provenance()
    print(f"machine: {prov['machine']}")
    print(f"STDP training on runtime, N={args.n_exc}, {args.samples} samples, {args.config}")
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    for _ in range(args.rounds):
        for form in ("wrapped", "direct"):
            cmd = [sys.executable, __file__, "--child", form, "--config", args.config]
            cmd += ["--n-exc", str(args.n_exc), "--samples", str(args.samples)]
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(res.stderr[-3000:], file=sys.stderr)
                return res.returncode
            times[form].append(float(res.stdout.strip().splitlines()[-1]))
            print(f"  {FORMS[form]:<24} {times[form][-1] * 1e3:8.1f} ms per sample")
    best = {form: min(t) for form, t in times.items()}
    print(f"best of each: {best['direct'] / best['wrapped']:.2f} of the wrapped form's time")
    if args.out:
        result = {"provenance": prov, **vars(args), "s_per_sample": times}
        del result["child"]
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
