"""Speed of STDP training: one compiled run per chunk versus one net.run() per sample.

    python bench/bench_stdp.py                       # N=100 and N=400, 2000 samples each
    python bench/bench_stdp.py --sizes 100 --samples 1000 --conventional-samples 10
    python bench/bench_stdp.py --backend cuda --sizes 400 1600   # on a machine with a GPU

For each N it reports, on the `cpp` backend with 1 OpenMP thread: compile time, training time
per sample excluding compilation (and per presentation, repeats included), peak memory of the
compiled program and of the largest compiler process; then the same with 2 OpenMP threads;
then the conventional design (runtime backend, one ``net.run()`` per sample, normalisation in
Python) on the same model and the first samples of the same data, and the speed ratio.
With ``--backend cuda`` it times the brian2cuda program instead (compile time, time per sample,
samples per second) and skips the thread and conventional comparisons. Results are printed and
written as JSON. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bioclf import tasks  # noqa: E402
from bioclf.brian import backends  # noqa: E402
from bioclf.data import images_as_float, load_split  # noqa: E402
from bioclf.encoding import hashrng  # noqa: E402
from bioclf.stdp.conventional import ConventionalNetwork  # noqa: E402
from bioclf.stdp.protocol import Models, Protocol  # noqa: E402
from bioclf.stdp.simulate import Simulator  # noqa: E402

MODELS = {
    "exc": ROOT / "equations/dc_exc.yaml",
    "inh": ROOT / "equations/dc_inh.yaml",
    "input_exc": ROOT / "equations/dc_stdp.yaml",
    "exc_inh": ROOT / "equations/dc_exc_inh.yaml",
    "inh_exc": ROOT / "equations/dc_inh_exc.yaml",
}


def compiled(n, images, threads, chunk, build, backend_name="cpp"):
    backend = backends.Backend(backend_name, threads=threads, build_dir=build)
    project = f"bench_n{n}_t{threads}" if backend_name == "cpp" else f"bench_n{n}_{backend_name}"
    shutil.rmtree(build / project, ignore_errors=True)  # time a full compile, not a re-make
    start = time.perf_counter()
    sim = Simulator(Models.load(MODELS), Protocol(), n, chunk, 0, backend, project)
    compile_s = time.perf_counter() - start
    state, pos, slots = sim.initial_state, 0, 0
    start = time.perf_counter()
    while pos < len(images):
        state, res = sim.run_chunk(
            state, images[pos : pos + chunk], pos, hashrng.key(0, 1, 0), True
        )
        pos += len(res.samples)
        slots += len(res.samples) + len(res.retried_counts)
    train_s = time.perf_counter() - start
    sim.cleanup()
    return {
        "compile_s": round(compile_s, 1),
        "samples": len(images),
        "presentations": slots,
        "train_s": round(train_s, 2),
        "ms_per_sample": round(train_s / len(images) * 1e3, 3),
        "ms_per_presentation": round(train_s / slots * 1e3, 3),
        "samples_per_s": round(len(images) / train_s, 1),
        # the compiled program's own peak, as measured by the wrapper that runs it
        "program_peak_memory_mb": round(sim.runner.program_peak_kb / 1024, 1),
        # the largest process of the build (make runs up to one compiler per core at once)
        "compiler_peak_memory_mb": round(sim.runner.compile_peak_kb / 1024, 1),
    }


def conventional(n, images):
    net = ConventionalNetwork(Models.load(MODELS), Protocol(), n, 0)
    net.present(images[0])  # the first run generates the numpy code: not timed
    start = time.perf_counter()
    slots = 0
    for image in images[1:]:
        _, reps = net.present(image)
        slots += 1 + reps
    elapsed = time.perf_counter() - start
    k = len(images) - 1
    return {
        "samples": k,
        "presentations": slots,
        "train_s": round(elapsed, 2),
        "ms_per_sample": round(elapsed / k * 1e3, 1),
        "ms_per_presentation": round(elapsed / slots * 1e3, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("cpp", "cuda"), default="cpp")
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 400])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--chunk", type=int, default=1000)
    # 50 timed samples (~25 s at N=400): fewer made the ratio swing with a few repeats.
    p.add_argument("--conventional-samples", type=int, default=51)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="OpenMP threads to try")
    p.add_argument("--build", type=Path, default=ROOT / "build" / "bench")
    p.add_argument("--out", type=Path, help="JSON file (default bench/out/bench_stdp[_cuda].json)")
    args = p.parse_args()
    if args.backend == "cuda" and not backends.gpu_available():
        p.error(
            "--backend cuda needs a GPU (nvidia-smi lists none); tests/test_cuda.py checks the "
            "compile"
        )
    suffix = "_cuda" if args.backend == "cuda" else ""
    args.out = args.out or ROOT / "bench" / "out" / f"bench_stdp{suffix}.json"
    ds = load_split(ROOT / "data" / "mnist", "train")
    images = images_as_float(ds)[: args.samples]
    results = {"provenance": tasks.provenance()}
    print(f"machine: {results['provenance']['machine']}", flush=True)
    for n in args.sizes:
        r = {}
        if args.backend == "cuda":
            r["cuda"] = compiled(n, images, 1, args.chunk, args.build, "cuda")
            print(f"N={n} cuda: {r['cuda']}", flush=True)
            results[f"N={n}"] = r
            continue
        for threads in args.threads:
            key = f"cpp_{threads}_thread" + ("s" if threads > 1 else "")
            r[key] = compiled(n, images, threads, args.chunk, args.build)
            print(f"N={n} cpp {threads} thread(s): {r[key]}", flush=True)
        if args.conventional_samples > 1:
            r["conventional_runtime"] = conventional(n, images[: args.conventional_samples])
            print(
                f"N={n} conventional (runtime, net.run per sample): {r['conventional_runtime']}",
                flush=True,
            )
            if "cpp_1_thread" in r:
                for unit in ("sample", "presentation"):
                    ratio = (
                        r["conventional_runtime"][f"ms_per_{unit}"]
                        / r["cpp_1_thread"][f"ms_per_{unit}"]
                    )
                    r[f"speedup_per_{unit}"] = round(ratio, 1)
                    print(f"N={n} speed-up per {unit} (1 thread): {ratio:.1f}x", flush=True)
        results[f"N={n}"] = r
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
