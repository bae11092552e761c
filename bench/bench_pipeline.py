"""Wall time of the whole default pipeline from a clean clone, with and without sharded STDP
inference.

    python bench/bench_pipeline.py                      # the three variants below, in turn
    python bench/bench_pipeline.py --variants default --cores 2

Each variant runs ``snakemake --cores C --forceall`` in its own fresh ``git clone`` of this
repository's HEAD (so nothing computed before is reused), with this environment's Python:

- ``default``: ``config/config.yaml`` as shipped (``stdp.shards: 1``);
- ``reset``: the same with ``stdp.protocol.reset_between_samples: true`` (what shards need:
  every presentation starts from the trained state, so a shard does not depend on the samples
  before it), still one job each for label assignment and test responses;
- ``shards2``: ``reset`` with ``stdp.shards: 2``.

``reset`` against ``shards2`` isolates what splitting costs or gains on this machine; ``default``
against ``reset`` what the protocol change does. Wall and CPU time (user + system of snakemake
and every job) per variant, the processor and the load average before and after go to the JSON
(``bench/out/bench_pipeline.json`` by default). Run it on an otherwise idle machine: the three
variants take ~15 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bioclf import tasks  # noqa: E402

VARIANTS = {
    "default": {},
    "reset": {"reset_between_samples": True, "shards": 1},
    "shards2": {"reset_between_samples": True, "shards": 2},
}


def variant_config(base: Path, out: Path, change: dict) -> None:
    """Write `base` with the variant's STDP changes to `out` (comments are not kept)."""
    cfg = yaml.safe_load(base.read_text())
    if "reset_between_samples" in change:
        cfg["stdp"]["protocol"]["reset_between_samples"] = change["reset_between_samples"]
    if "shards" in change:
        cfg["stdp"]["shards"] = change["shards"]
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_variant(name: str, cores: int, scratch: Path) -> dict:
    clone = scratch / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    cfg = clone / "config" / f"bench_{name}.yaml"
    variant_config(clone / "config" / "config.yaml", cfg, VARIANTS[name])
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake), "--cores", str(cores), "--forceall", "--configfile", str(cfg)]
    print(f"[{name}] {' '.join(cmd)} in {clone}", flush=True)
    load_before = os.getloadavg()
    cpu0, t0 = children_cpu(), time.perf_counter()
    with open(scratch / f"{name}.log", "w") as log:
        rc = subprocess.run(cmd, cwd=clone, stdout=log, stderr=subprocess.STDOUT).returncode
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    metrics = clone / "results" / "metrics.csv"
    result = {
        "variant": name,
        "change": VARIANTS[name],
        "returncode": rc,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "metrics_csv": metrics.read_text() if metrics.exists() else None,
    }
    print(f"[{name}] exit {rc}, wall {wall:.1f} s, CPU {cpu:.1f} s", flush=True)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="the variants to run, in turn (default: all three)",
    )
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores (default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the clones (default: removed)")
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "out" / "bench_pipeline.json",
        help="JSON file (default: bench/out/bench_pipeline.json)",
    )
    args = p.parse_args(argv)
    commit = tasks.code_commit(ROOT, tasks.OUTPUTS)  # (the clones' code: taken before they run)
    scratch = Path(tempfile.mkdtemp(prefix="bioclf_bench_pipeline_"))
    try:
        runs = [run_variant(v, args.cores, scratch) for v in args.variants]
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    report = {"cores": args.cores, **tasks.provenance(), "commit": commit, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
