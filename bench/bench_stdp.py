"""Speed of STDP training: one compiled run per chunk versus one net.run() per sample.

    python bench/bench_stdp.py                       # N=100 and N=400, a whole epoch each
    python bench/bench_stdp.py --sizes 100 --epoch-samples 0 --conventional-samples 10
    python bench/bench_stdp.py --backend cuda --sizes 400 1600   # on a machine with a GPU

For each N it reports, on the `cpp` backend with 1 OpenMP thread: compile time, then training
time per sample excluding compilation (and per presentation, repeats included) over three
windows of one run through ``--epoch-samples`` samples (a whole epoch by default): the first
``--samples``, the whole run and the last ``--late-samples``. Per-sample cost grows during
training (the adaptive thresholds rise, so more samples are shown again), so the whole-run
figure is the one that holds for a training run. Beside each wall-clock figure it gives the CPU
time of the bench and the programs it ran (less affected by other load on the machine) and the
peak memory of the compiled program and of the largest compiler process. Then the first
``--samples`` with 2 OpenMP threads, then the conventional design (runtime backend, one
``net.run()`` per sample, normalisation in Python) on the same model and the first samples of
the same data, and the speed ratio. The model files are the paper's (``equations/dc_stdp.yaml``
for the plastic synapse) with the default protocol; ``--config`` times those of a pipeline
configuration instead (``config/config.yaml``: the default pipeline's). With ``--backend
cuda`` it times the brian2cuda program instead, with the peak GPU memory (``nvidia-smi``), and
skips the thread and conventional comparisons. Results are printed and written as JSON, with
the processor and the load average before and after. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bioclf import config, tasks  # noqa: E402
from bioclf.brian import backends  # noqa: E402
from bioclf.data import images_as_float, load_split  # noqa: E402
from bioclf.encoding import hashrng  # noqa: E402
from bioclf.errors import THE_CONFIGURATION, ConfigError  # noqa: E402
from bioclf.stdp import setup as stdp_setup  # noqa: E402
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
#: What a configuration error names without ``--config``: the protocol is `Protocol`'s
#: defaults, read from no file.
DEFAULT_PROTOCOL = "(no --config: the default protocol)"


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children (the programs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class GpuMemory:
    """Peak GPU memory in use (MB, all processes, from nvidia-smi every 0.2 s) while it is
    entered, above what was in use before; None where nvidia-smi does not answer.

    Of the GPU the program runs on, named by its UUID: nvidia-smi's own numbering (PCI bus
    order, all GPUs) is not CUDA's (`backends.visible_gpu`)."""

    def __init__(self):
        gpu = backends.visible_gpu()
        self.gpu = gpu.uuid if gpu and gpu.uuid else "0"
        self.samples, self._stop = [], threading.Event()

    def _used(self):
        cmd = ["nvidia-smi", f"--id={self.gpu}", "--query-gpu=memory.used"]
        cmd.append("--format=csv,noheader,nounits")
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
            return float(out.split()[0])
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return None

    def _poll(self):
        while not self._stop.wait(0.2):
            self.samples.append(self._used())

    def __enter__(self):
        self.base = self._used()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self):
        seen = [m for m in self.samples if m is not None]
        return None if self.base is None or not seen else round(max(seen) - self.base, 1)


def window(chunks, first, last, label):
    """Speed over chunks[first:last]; each chunk is (samples, presentations, wall s, CPU s,
    slots simulated). C++ stops a chunk when its samples are done; CUDA simulates every slot
    of the chunk (the spare ones idle): ``ms_per_slot_simulated`` compares the two per unit of
    work."""
    part = chunks[first:last]
    samples = sum(c[0] for c in part)
    slots = sum(c[1] for c in part)
    wall = sum(c[2] for c in part)
    cpu = sum(c[3] for c in part)
    simulated = sum(c[4] for c in part)
    return {
        "slots_simulated": simulated,
        "ms_per_slot_simulated": round(wall / simulated * 1e3, 3),
        "window": label,
        **speed(samples, slots, wall, cpu, 3),
        "samples_per_s": round(samples / wall, 1),
    }


def speed(samples: int, slots: int, wall: float, cpu: float, decimals: int) -> dict:
    """The training speed figures both designs report, in this order.

    Parameters
    ----------
    samples : int
        Samples trained on.
    slots : int
        Presentations, repeats included.
    wall, cpu : float
        Wall-clock and CPU seconds they took.
    decimals : int
        Decimals of the per-sample and per-presentation milliseconds (seconds: 2).
    """
    return {
        "samples": samples,
        "presentations": slots,
        "train_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "ms_per_sample": round(wall / samples * 1e3, decimals),
        "cpu_ms_per_sample": round(cpu / samples * 1e3, decimals),
        "ms_per_presentation": round(wall / slots * 1e3, decimals),
    }


def compiled(setup, n, images, threads, chunk, build, backend_name="cpp", first=None, late=None):
    """Compile and train through `images` with `setup` (Models, Protocol); time the first
    `first` samples, the whole run and the last `late` samples (windows rounded to whole
    chunks)."""
    gpu = GpuMemory() if backend_name == "cuda" else contextlib.nullcontext()
    with gpu:
        out = _compiled(setup, n, images, threads, chunk, build, backend_name, first, late)
    if backend_name == "cuda":
        # the compiled program's device memory: all processes' use, above the use before
        out["gpu_peak_memory_mb"] = gpu.peak_mb
    return out


def _compiled(setup, n, images, threads, chunk, build, backend_name, first, late):
    backend = backends.Backend(backend_name, threads=threads, build_dir=build)
    project = f"bench_n{n}_t{threads}" if backend_name == "cpp" else f"bench_n{n}_{backend_name}"
    shutil.rmtree(build / project, ignore_errors=True)  # time a full compile, not a re-make
    start = time.perf_counter()
    sim = Simulator(*setup, n, chunk, 0, backend, project)
    compile_s = time.perf_counter() - start
    # before the first chunk, which may outlast a time limit (bench/gpu/check.sh's: one chunk)
    print(
        f"  N={n} {threads} thread(s): compiled in {compile_s:.1f} s", file=sys.stderr, flush=True
    )
    state, pos, chunks = sim.initial_state, 0, []
    while pos < len(images):
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        state, res = sim.run_chunk(
            state, images[pos : pos + chunk], pos, hashrng.key(0, 1, 0), True
        )
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        sim.cleanup()  # the chunk's argument files, deleted as training does (not timed)
        pos += len(res.samples)
        shown = len(res.samples) + len(res.retried_counts)
        simulated = sim.net.slots if backend_name == "cuda" else shown  # (see `window`)
        chunks.append((len(res.samples), shown, wall, cpu, simulated))
        # one line per chunk: a long run stopped early still shows its speed so far
        print(
            f"  N={n} {threads} thread(s): {pos}/{len(images)} samples, chunk {wall:.2f} s "
            f"wall, {cpu:.2f} s CPU, {chunks[-1][1]} presentations",
            file=sys.stderr,
            flush=True,
        )
    out = {"compile_s": round(compile_s, 1)}
    out.update(window(chunks, 0, len(chunks), "all"))
    # A chunk holds fewer samples than slots when samples are shown again: windows are whole
    # chunks chosen by the samples they start at.
    starts = np.cumsum([0] + [c[0] for c in chunks])
    n_first = int(np.searchsorted(starts, first or len(images), side="left"))
    if n_first < len(chunks):
        out["first"] = window(chunks, 0, n_first, f"samples 0-{starts[n_first]}")
    late_start = int(np.searchsorted(starts, len(images) - (late or len(images)), side="left"))
    if 0 < late_start < len(chunks):
        out["late"] = window(
            chunks, late_start, len(chunks), f"samples {starts[late_start]}-{len(images)}"
        )
    # the compiled program's own peak, as measured by the wrapper that runs it
    out["program_peak_memory_mb"] = round(sim.runner.program_peak_kb / 1024, 1)
    # the largest process of the build (make runs up to one compiler per core at once)
    out["compiler_peak_memory_mb"] = round(sim.runner.compile_peak_kb / 1024, 1)
    return out


def conventional(setup, n, images):
    net = ConventionalNetwork(*setup, n, 0)
    net.present(images[0])  # the first run generates the numpy code: not timed
    start, cpu0 = time.perf_counter(), cpu_seconds()
    slots = 0
    for image in images[1:]:
        _, reps = net.present(image)
        slots += 1 + reps
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    return {
        **speed(len(images) - 1, slots, elapsed, cpu, 1),
        # the bench process's peak so far: the conventional design runs inside it
        "process_peak_memory_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine slows the timings)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench/gpu/check.sh runs it; tests/test_gpu_check.py parses that)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--backend",
        choices=("cpp", "cuda"),
        default="cpp",
        help="the Brian2 device (default: %(default)s)",
    )
    p.add_argument(
        "--sizes",
        type=tasks.count,
        nargs="+",
        default=[100, 400],
        help="N to time (default: %(default)s)",
    )
    p.add_argument(
        "--samples",
        type=tasks.count,
        default=1000,
        help="first window (all thread counts; default: %(default)s)",
    )
    p.add_argument(
        "--epoch-samples",
        type=tasks.index,
        default=60000,
        help="samples of the 1-thread (and cuda) run: a whole epoch by default; 0: --samples",
    )
    p.add_argument(
        "--late-samples",
        type=tasks.index,
        default=10000,
        help="last window of that run (default: %(default)s)",
    )
    p.add_argument(
        "--chunk",
        type=tasks.count,
        help="samples per compiled run (default: --config's, else 1000)",
    )
    # 50 timed samples (~25 s at N=400): fewer made the ratio swing with a few repeats.
    p.add_argument(
        "--conventional-samples",
        type=tasks.index,
        default=51,
        help="samples of the conventional design, the first untimed (0 or 1: skipped; default: "
        "%(default)s)",
    )
    p.add_argument(
        "--threads",
        type=tasks.count,
        nargs="+",
        default=[1, 2],
        help="OpenMP threads to try (default: %(default)s)",
    )
    p.add_argument(
        "--build",
        type=tasks.out_dir,
        default=ROOT / "build" / "bench",
        help="directory of the compiled projects (default: build/bench)",
    )
    p.add_argument(
        "--out",
        type=tasks.out_file,  # (checked before the timings: the file is first written after
        # the first N's, which may take an hour)
        help="JSON file (default: bench/out/bench_stdp[_cuda].json)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="time the model files and protocol of this pipeline configuration's stdp section "
        "(e.g. config/config.yaml) instead of the paper's",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        return timings(p, args)
    except ConfigError as exc:  # (tasks.run would name config/config.yaml, read only as --config)
        if exc.path != THE_CONFIGURATION:
            raise
        raise ConfigError(args.config or DEFAULT_PROTOCOL, exc.field, exc.reason) from None


def timings(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Time the sizes of `args` (parsed by `p`), print and write the results."""
    if args.backend == "cuda" and not backends.gpu_available():
        p.error(
            "--backend cuda needs a GPU, and the CUDA driver shows this process none (none "
            "installed, or CUDA_VISIBLE_DEVICES hides them); tests/test_cuda.py checks the compile"
        )
    suffix = "_cuda" if args.backend == "cuda" else ""
    args.out = args.out or ROOT / "bench" / "out" / f"bench_stdp{suffix}.json"
    ds = load_split(ROOT / "data" / "mnist", "train")
    long_run = max(args.epoch_samples, args.samples)
    if long_run > len(ds):
        p.error(f"--samples and --epoch-samples ask for {long_run}; the training set has {len(ds)}")
    images = images_as_float(ds)[:long_run]
    if args.config:
        cfg = config.load(args.config)
        setup = (stdp_setup.models(cfg), stdp_setup.protocol(cfg))
        model_files = {k: str(v) for k, v in cfg["stdp"]["models"].items()}
        args.chunk = args.chunk or int(cfg["stdp"]["chunk"])
    else:
        setup = (Models.load(MODELS), Protocol())
        model_files = {k: str(v.relative_to(ROOT)) for k, v in MODELS.items()}
        args.chunk = args.chunk or 1000
    results = {"provenance": tasks.provenance(), "load_average_before": load_average()}
    results["commit"] = results["provenance"].get("commit", "")
    results["gcc_flags"] = " ".join(backends.gcc_flags())
    results["models"] = model_files
    results["chunk"] = args.chunk
    results["protocol"] = {k: str(v) for k, v in vars(setup[1]).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"machine: {results['provenance']['machine']}", flush=True)
    print(f"load average (1, 5, 15 min): {results['load_average_before']}", flush=True)
    for n in args.sizes:
        r = {}
        if args.backend == "cuda":
            r["cuda"] = compiled(
                setup, n, images, 1, args.chunk, args.build, "cuda", args.samples, args.late_samples
            )
            print(f"N={n} cuda: {r['cuda']}", flush=True)
        for threads in args.threads if args.backend == "cpp" else ():
            key = f"cpp_{threads}_thread" + ("s" if threads > 1 else "")
            # the whole run with one thread only: the thread comparison needs no full epoch
            part = images if threads == 1 else images[: args.samples]
            r[key] = compiled(
                setup,
                n,
                part,
                threads,
                args.chunk,
                args.build,
                "cpp",
                args.samples,
                args.late_samples,
            )
            print(f"N={n} cpp {threads} thread(s): {r[key]}", flush=True)
        if args.backend == "cpp" and args.conventional_samples > 1:
            r["conventional_runtime"] = conventional(setup, n, images[: args.conventional_samples])
            print(
                f"N={n} conventional (runtime, net.run per sample): {r['conventional_runtime']}",
                flush=True,
            )
            if "cpp_1_thread" in r:
                # both timed from the start of training, where per-sample cost is lowest
                early = r["cpp_1_thread"].get("first", r["cpp_1_thread"])
                for unit in ("sample", "presentation"):
                    ratio = r["conventional_runtime"][f"ms_per_{unit}"] / early[f"ms_per_{unit}"]
                    r[f"speedup_per_{unit}"] = round(ratio, 1)
                    print(f"N={n} speed-up per {unit} (1 thread): {ratio:.1f}x", flush=True)
                # the same from CPU time, less affected by other load on the machine
                ratio = r["conventional_runtime"]["cpu_ms_per_sample"] / early["cpu_ms_per_sample"]
                r["speedup_per_sample_cpu"] = round(ratio, 1)
                print(f"N={n} speed-up per sample, CPU time (1 thread): {ratio:.1f}x", flush=True)
        results[f"N={n}"] = r
        results["load_average_after"] = load_average()
        # written after each N: a long run stopped early keeps what it measured
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))  # (bad input: one line, exit status 2)
