"""The one place where the Brian2 backend is chosen.

Three backends run the same model code:

``runtime``
    Brian2's runtime mode, code generated to numpy (default) or Cython. For small debugging runs.
``cpp``
    ``cpp_standalone``: the whole simulation compiled to one C++ program, optionally with
    OpenMP threads. Each build lives in its own directory, so several can coexist.
``cuda``
    brian2cuda's ``cuda_standalone``. On a machine with nvcc but without a GPU the project is
    generated and compiled, not run.

Use `activate` before building any Brian2 object and `Runner` to run a network repeatedly with
new initial values (one compiled binary reused, ``device.run(run_args=...)``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import brian2
import numpy as np
from brian2 import Network, defaultclock, device, prefs, set_device
from brian2.input.timedarray import TimedArray
from brian2.units.fundamentalunits import fail_for_dimension_mismatch
from brian2.utils.filelock import FileLock

from bioclf import tasks
from bioclf.brian import cpp_patches
from bioclf.brian.buildlock import build_lock
from bioclf.brian.locked_run import COMPILE_PEAK_NAME, PEAK_NAME
from bioclf.errors import ConfigError

BACKENDS = ("runtime", "cpp", "cuda")
LOCKED_RUN = Path(__file__).with_name("locked_run.py")
#: How programs are started under `locked_run` (-S: it needs only the standard library, and
#: site-packages would cost ~10 ms at each start, once per STDP chunk).
LOCKED_RUN_CMD = [sys.executable, "-S", str(LOCKED_RUN)]
RUNTIME_TARGETS = ("numpy", "cython")

# gcc flags: Brian2's defaults, with C++17 (CUDA 13's headers need it).
_GCC_FLAGS = ["-w", "-O3", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++17"]
# Linking with -ffast-math makes the program start with subnormal numbers flushed to zero
# (FTZ/DAZ), as nvcc's -use_fast_math does for the GPU code of the cuda backend. The traces
# and conductances of neurons that stay silent decay through the subnormal range (below
# 2.2e-308), where every operation on them costs ~100 cycles: STDP training at N=400 was ~20%
# slower for it. Such values are below the resolution of anything they are added to, so
# weights, theta, membrane potentials and spikes come out bit-identical (checked over 2,000
# samples at N=400); only the subnormal trace values themselves read as 0.
_LINK_FLAGS = ["-ffast-math"]


def gcc_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The gcc flags for this machine's processor (`cpuinfo`: Linux's description of it).

    gcc's -march=native vectorises with 256-bit registers on processors with AVX-512. On an
    Intel Xeon with AMX (Sapphire Rapids and later) 512-bit registers made the STDP program
    4.6% faster, with the same results; on an AMD Zen 4 they made it 3% slower
    (bench/README.md). Older Intel processors lower their clock for 512-bit code: left alone.
    """
    fields = tasks.cpu_fields(cpuinfo)
    intel = fields.get("vendor_id") == "GenuineIntel"
    if intel and {"avx512f", "amx_tile"} <= set(fields.get("flags", "").split()):
        return [*_GCC_FLAGS, "-mprefer-vector-width=512"]
    return list(_GCC_FLAGS)


@dataclass(frozen=True)
class Backend:
    """Where and how Brian2 runs.

    Parameters
    ----------
    name : {'runtime', 'cpp', 'cuda'}
    runtime_target : {'numpy', 'cython'}
        Code generation target of the runtime backend.
    threads : int
        OpenMP threads of the ``cpp`` backend (1 = no OpenMP).
    build_dir : Path
        Parent directory of standalone projects; each network builds in ``build_dir / name``.
    compute_capability : float
        GPU architecture to compile for when no GPU can be queried (9.0 = Hopper).
    """

    name: str = "runtime"
    runtime_target: str = "numpy"
    threads: int = 1
    build_dir: Path = Path("build/brian2")
    compute_capability: float = 9.0

    def __post_init__(self):
        if self.name not in BACKENDS:
            raise ConfigError(
                "(backend)", "backend", f"unknown backend {self.name!r}; use one of {BACKENDS}"
            )
        if self.runtime_target not in RUNTIME_TARGETS:
            raise ConfigError(
                "(backend)",
                "runtime_target",
                f"must be one of {RUNTIME_TARGETS}, got {self.runtime_target!r}",
            )
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(
                "(backend)", "threads", f"must be a positive integer, got {self.threads!r}"
            )

    @property
    def standalone(self) -> bool:
        return self.name != "runtime"


def gpu_available() -> bool:
    """Whether a CUDA program started now would find a GPU (`visible_gpu`).

    Not ``nvidia-smi -L``, which lists the node's GPUs whatever ``CUDA_VISIBLE_DEVICES``
    says: a job a scheduler gave no GPU (``CUDA_VISIBLE_DEVICES=""``) would start the CUDA
    program and fail with a CUDA error instead of being told there is no GPU.
    """
    return visible_gpu() is not None


def no_gpu() -> str | None:
    """Why the ``cuda`` backend cannot run here, in a clause; None where a GPU is visible
    (`gpu_available`). A task asks before it builds: the CUDA project compiles for minutes
    without a GPU, and only its program's start would fail."""
    if gpu_available():
        return None
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={hidden!r})" if hidden is not None else ""
    return f"'cuda' needs a GPU, and the CUDA driver sees none here{where}"


#: Asks the CUDA driver about device 0, the device a CUDA program's ``cudaSetDevice(0)``
#: selects: the first that ``CUDA_VISIBLE_DEVICES`` (indices, GPU or MIG UUIDs) leaves, in the
#: order ``CUDA_DEVICE_ORDER`` sets (by default the fastest first). Prints "major minor
#: uuid-hex"; exit 3: no driver library, 4: no device (or the driver refuses). Runs in a child
#: process: CUDA initialised here would be broken in any child forked later.
_DRIVER_QUERY = """
import ctypes, sys
try:
    cuda = ctypes.CDLL(sys.argv[1])
except OSError:
    sys.exit(3)
dev, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
uuid = (ctypes.c_ubyte * 16)()
if (cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(dev), 0)
        or cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)
        or cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)):
    sys.exit(4)
print(major.value, minor.value, bytes(uuid).hex() if cuda.cuDeviceGetUuid(uuid, dev) == 0 else "")
"""
_visible_gpus: dict[tuple, VisibleGpu | None] = {}
#: The CUDA driver library `visible_gpu` asks (tests give it another).
LIBCUDA = "libcuda.so.1"


@dataclass(frozen=True)
class VisibleGpu:
    """The GPU a CUDA program started from this process runs on (its device 0)."""

    compute_capability: float  #: e.g. 9.0 (Hopper)
    uuid: str | None  #: as nvidia-smi names it (``GPU-...``), for its ``--id``


def visible_gpu(libcuda: str | None = None) -> VisibleGpu | None:
    """The GPU a CUDA program started now would run on, as the CUDA driver sees it; None
    where there is no driver or no visible device.

    Not ``nvidia-smi -i 0``: nvidia-smi numbers the GPUs in PCI bus order and ignores
    ``CUDA_VISIBLE_DEVICES``, while CUDA orders them fastest first (unless
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``) and only among the visible ones, so on a node with several
    kinds of GPU nvidia-smi's GPU 0 can be another kind than the program's. Asked once per
    value of those two variables (and `libcuda`, the driver library to load: `LIBCUDA`).
    """
    libcuda = libcuda or LIBCUDA
    env = os.environ
    key = (libcuda, env.get("CUDA_VISIBLE_DEVICES"), env.get("CUDA_DEVICE_ORDER"))
    if key not in _visible_gpus:
        _visible_gpus[key] = _ask_driver(libcuda)
    return _visible_gpus[key]


def _ask_driver(libcuda: str) -> VisibleGpu | None:
    try:
        out = subprocess.run(
            [sys.executable, "-S", "-c", _DRIVER_QUERY, libcuda],
            capture_output=True,
            text=True,
            timeout=120,  # cuInit takes seconds on nodes with many GPUs
        )
        major, minor, *rest = out.stdout.split() if out.returncode == 0 else []
        capability = float(f"{int(major)}.{int(minor)}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    h = rest[0] if rest and len(rest[0]) == 32 else None
    uuid = f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if h else None
    return VisibleGpu(capability, uuid)


#: Where the CUDA wheels that torch installs keep cuRAND, under site-packages: CUDA 13's
#: (torch's cu13x builds) one tree for all libraries, CUDA 12's (cu12x) a package per library.
_WHEEL_CURAND_DIRS = ("nvidia/cu13", "nvidia/curand")


def _nvidia_wheel_dirs() -> tuple[Path, Path] | None:
    """Include and library directories of the CUDA runtime wheels torch installs."""
    for entry in sys.path:
        for layout in _WHEEL_CURAND_DIRS:
            base = Path(entry) / layout
            if (base / "include" / "curand.h").exists():
                return base / "include", base / "lib"
    return None


def _toolkit_curand_dirs() -> tuple[Path, Path] | None:
    """Include and library directories of the system CUDA toolkit's cuRAND ($CUDA_PATH, else
    /usr/local/cuda): its library in lib64 (NVIDIA's installers) or lib (a toolkit assembled
    from the pip wheels); None where it has none."""
    home = Path(os.environ.get("CUDA_PATH", "/usr/local/cuda"))
    if not (home / "include" / "curand.h").exists():
        return None
    for lib in (home / "lib64", home / "lib"):
        if any(lib.glob("libcurand.so*")):
            return home / "include", lib
    return None


def curand_dirs() -> tuple[Path, Path] | None:
    """Include and library directories of the cuRAND that brian2cuda's projects use: the
    system CUDA toolkit's, else the one of the pip wheels; None where there is neither."""
    return _toolkit_curand_dirs() or _nvidia_wheel_dirs()


def _use_wheel_curand(build_dir: Path) -> list[str]:
    """Make curand findable: the system CUDA toolkit's, else the one of the pip wheels.

    Returns the nvcc include flags and sets Brian2's library preferences: the library's
    directory for the linker and, at run time, for the loader (found without its cache). The
    wheel ships only ``libcurand.so.10``, and so does a toolkit assembled from the wheels; the
    linker's ``-lcurand`` needs ``libcurand.so``, so where there is none a link to the
    versioned file is made in the build directory.
    """
    dirs = curand_dirs()
    if dirs is None:
        return []
    include, lib = dirs
    prefs.codegen.cpp.runtime_library_dirs = [str(lib)]
    if (lib / "libcurand.so").exists():
        prefs.codegen.cpp.library_dirs = [str(lib)]
        return [f"-I{include}"]
    versioned = sorted(lib.glob("libcurand.so.*"))
    link_dir = (build_dir / "_curand").resolve()
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libcurand.so"
    if versioned and not (link.is_symlink() and os.readlink(link) == str(versioned[0])):
        # made under a temporary name and renamed over the link: a process building beside
        # this one sees the old link or the new one, and a link left to a library since
        # removed (another torch) is replaced rather than a FileExistsError
        tmp = link_dir / f".libcurand.so.{socket.gethostname()}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(versioned[0])
        os.replace(tmp, link)
    prefs.codegen.cpp.library_dirs = [str(link_dir)]
    return [f"-I{include}"]


def activate(backend: Backend, project: str, dt=None) -> Path | None:
    """Reset Brian2 and select `backend` for the network about to be built.

    Parameters
    ----------
    backend : Backend
    project : str
        Name of the standalone project directory (under ``backend.build_dir``).
    dt : Quantity, optional
        The default clock's time step.

    Returns
    -------
    Path or None
        The standalone project directory, or None for the runtime backend.
    """
    from brian2.devices.device import all_devices

    # Standalone devices are singletons: leave the active one, then forget any project built
    # earlier in this process.
    set_device("runtime")
    for name in ("cpp_standalone", "cuda_standalone"):
        if name in all_devices:
            all_devices[name].reinit()
    # Objects of a network built earlier in this process can linger in reference cycles; while
    # they live, Brian2 names the new code objects "..._codeobject_1", so the project's files
    # all change names and everything is compiled again (21 s instead of 4 s at N=20).
    gc.collect()
    prefs.reset_to_defaults()
    prefs.codegen.cpp.extra_compile_args_gcc = gcc_flags()
    prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{make_jobs()}"]
    prefs.logging.std_redirection = False
    # Ctrl-C interrupts (KeyboardInterrupt: `tasks.run` says how to resume). Brian2's default
    # swallows the first one during a run: a runtime run stops early and the task carries on
    # with its next chunk; a standalone program dies of it and Brian2 reports a failed run.
    prefs.core.stop_on_keyboard_interrupt = False
    tasks.keep_inherited_sigint()  # (where brian2 was first imported after tasks.run began)
    if dt is not None:
        defaultclock.dt = dt
    if backend.name == "runtime":
        set_device("runtime")
        prefs.codegen.target = backend.runtime_target
        return None
    directory = (backend.build_dir / project).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        # The binary holds the project's lock while it runs, even if this process is killed.
        prefs.devices.cpp_standalone.run_cmd_unix = [*LOCKED_RUN_CMD, "./main"]
        # make too (a shell command here), to measure the compiler's peak memory
        prefs.devices.cpp_standalone.make_cmd_unix = shlex.join(
            [*LOCKED_RUN_CMD, "--peak-file", COMPILE_PEAK_NAME, "make"]
        )
    if backend.name == "cpp":
        set_device("cpp_standalone", directory=str(directory), build_on_run=False)
        prefs.devices.cpp_standalone.openmp_threads = backend.threads if backend.threads > 1 else 0
        prefs.codegen.cpp.extra_link_args = list(_LINK_FLAGS)  # nvcc links cuda: not there
    else:
        import brian2cuda  # noqa: F401  (registers the cuda_standalone device)

        set_device("cuda_standalone", directory=str(directory), build_on_run=False)
        cuda = prefs.devices.cuda_standalone.cuda_backend
        # Never brian2cuda's own detection: it reads CUDA_VISIBLE_DEVICES as integers, and
        # schedulers may set GPU UUIDs there. The program runs on CUDA's device 0, compiled for
        # its architecture as the driver reports it (the backend's default where there is no
        # GPU: compile only).
        cuda.detect_gpus = False
        cuda.gpu_id = 0
        gpu = visible_gpu()
        cuda.compute_capability = (
            gpu.compute_capability if gpu else float(backend.compute_capability)
        )
        cuda.extra_compile_args_nvcc = ["-w", "-use_fast_math"] + _use_wheel_curand(directory)
        # The device heap holds the spike monitors' buffers and the spike queues of the input
        # synapses' heterogeneous delays, which grow with N (784 x N synapses); brian2cuda's
        # 128 MB default is small for N=6400 and costs nothing to raise on any current GPU.
        cuda.gpu_heap_size = 1024
    if dt is not None:
        defaultclock.dt = dt
    return directory


def _fix_cuda_makefile(directory: Path) -> None:
    """brian2cuda 1.0b1 hard-codes -std=c++11 for nvcc; CUDA 13 needs C++17."""
    makefile = directory / "makefile"
    text = makefile.read_text()
    makefile.write_text(text.replace("-std=c++11", "-std=c++17"))


#: The digest of the headers and makefile a project's objects were compiled with.
BUILD_INPUTS_NAME = ".bioclf_build_inputs"
_native_targets: dict[str, str] = {}


def native_target() -> str:
    """What ``-march=native`` means to the C++ compiler make runs (``$CXX``, else ``g++``)
    on this machine: its description of the target options that flag sets (``-Q
    --help=target``), the processor's fields where that compiler cannot be asked. Nodes of
    one cluster sharing a build directory may have processors of other instruction sets: an
    object compiled for one can die of an illegal instruction on the other.

    Asked without a terminal, in English and without ``COLUMNS``: gcc wraps its help to the
    width of a terminal on its stdin (or ``COLUMNS``) and translates it, so a task run from a
    shell, then by Snakemake, would describe one target two ways and compile every object
    again."""
    cxx = os.environ.get("CXX") or "g++"
    if cxx not in _native_targets:
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LANGUAGE")}
        try:
            described = subprocess.run(
                [*shlex.split(cxx), "-march=native", "-Q", "--help=target"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env={**env, "LC_ALL": "C"},
                timeout=60,
                check=True,
            ).stdout
        except (OSError, ValueError, subprocess.SubprocessError):
            # (make then fails with the compiler's own message, or compiles with another)
            fields = tasks.cpu_fields("/proc/cpuinfo")
            described = "\n".join(
                f"{k}: {fields.get(k, '')}" for k in ("vendor_id", "cpu family", "model", "flags")
            )
        _native_targets[cxx] = described
    return _native_targets[cxx]


def forget_objects_of_other_headers(directory: Path) -> bool:
    """Delete the project's compiled objects if its headers or makefile changed since they
    were compiled (or that is not known); return whether it did.

    Brian2 and brian2cuda rewrite only the generated files whose text changed, and ``make``
    compiles an object again only when a prerequisite is newer: brian2cuda's makefile names
    just the object's own ``.cu`` (no header, not the makefile and its flags), and Brian2's
    ``make.deps`` names the code objects without their directory, so it does not apply to
    them. A project built again after a header changed (another network in the directory, a
    new Brian2 or brian2cuda, a changed patch) or after its compiler flags changed (the GPU
    architecture of another node sharing the build directory) would link objects compiled
    against the old declarations and layouts, or for the old GPU, with new ones; one whose
    ``-march=native`` means another instruction set there (a node of another processor:
    `native_target`) would run objects compiled for the first. Their digest
    is kept in the project (`BUILD_INPUTS_NAME`); the project's own directory in the makefile
    is left out of it, so a copy of a compiled project (`bioclf.stdp.frozen.seed_project`)
    keeps its objects. Headers change rarely: compiling every object again then is simple and
    certain.
    """
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.h")):
        digest.update(f"{path.relative_to(directory)}\0".encode() + path.read_bytes() + b"\0")
    makefile = directory / "makefile"
    if makefile.exists():
        text = makefile.read_text()
        digest.update(text.replace(str(directory), "<project>").encode())
        if "-march=native" in text:  # the same flag, another processor: another target
            digest.update(b"\0" + native_target().encode())
    stamp = directory / BUILD_INPUTS_NAME
    try:
        if stamp.read_text().strip() == digest.hexdigest():
            return False
    except OSError:
        pass  # no stamp: compiled before stamps were kept, or never
    # objects first, then the stamp: killed in between, the next build finds a stale stamp
    for obj in directory.rglob("*.o"):
        obj.unlink()
    stamp.write_text(digest.hexdigest() + "\n")
    return True


def build(backend: Backend, directory: Path | None, run: bool = False) -> None:
    """Generate and compile the standalone project of the current network.

    For ``cpp``, the generated project is patched to run faster with the same results
    (`bioclf.brian.cpp_patches`: ranges of synapses in the spike queue, a vectorisable
    refractoriness test, thresholds in two passes). For ``cuda``, the makefile is made
    CUDA 13-compatible, and the files brian2cuda writes in a set's order are given one order
    (`cpp_patches.patch_cuda_project`); the project is run only where a GPU is present.
    Objects compiled against other headers or flags are compiled again
    (`forget_objects_of_other_headers`). Another process building the same project is
    waited for (`bioclf.brian.buildlock`).
    """
    if directory is None:
        return
    # one build of the project at a time, across processes and nodes (`build_lock`)
    with build_lock(directory):
        before = cpp_patches.snapshot(directory)
        device.build(directory=str(directory), compile=False, run=False, with_output=False)
        if backend.name == "cpp":
            cpp_patches.patch_project(directory, before)
        else:
            _fix_cuda_makefile(directory)
            cpp_patches.patch_cuda_project(directory, before)
        forget_objects_of_other_headers(directory)
        compile_project(directory)
    if run:
        device.run(str(directory), with_output=False)


def make_jobs() -> int:
    """How many compilers make runs at once: the CPUs this process may use (on a cluster node,
    the job's allocation where the scheduler pins it, not the node's), and in a SLURM job no
    more than the CPUs it was given (``SLURM_CPUS_PER_TASK``, the rule's threads): a cluster
    that limits memory but pins no CPUs (cgroup.conf ConstrainCores=no, its default, and no
    task/affinity) leaves a one-CPU job the whole node's, and ~200 MB per compiler
    (bench/README.md) on a 64-CPU node is 12.8 GB, against the 2.1 GB an STDP job at N=100
    asks.

    Brian2's default, ``-j`` without a number, starts a compiler for every file at once (50-60
    for the STDP network, each nvcc several processes): no faster than one per CPU, and their
    memory together outgrows a cluster job's request, which the scheduler then kills.
    """
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (no sched_getaffinity: macOS)
        cpus = os.cpu_count() or 1
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return min(cpus, int(given)) if given.isdigit() and int(given) > 0 else cpus


def compile_project(directory: Path) -> None:
    """Run make in the generated project `directory` (the device's ``make_cmd_unix``).

    As Brian2's ``compile_source`` does, but started with `subprocess` rather than
    ``os.system``, which ignores Ctrl-C in this process while make runs: make died of it and
    Brian2 reported a failed compilation (a traceback), not an interruption. Here Ctrl-C raises
    KeyboardInterrupt, which `tasks.run` reports as one (a later run compiles again). Brian2's
    own on Windows.
    """
    if os.name != "posix":
        compiler, _ = brian2.codegen.cpp_prefs.get_compiler_and_args()
        device.compile_source(str(directory), compiler, False, False)
        return
    pref = prefs.devices.cpp_standalone
    command = " ".join([pref.make_cmd_unix, *pref.extra_make_args_unix])
    # The compiler's command lines go to make.log, not to the task's output (a Snakemake log),
    # as Brian2 keeps them out of it; a failure shows the end of the log.
    log = Path(directory) / "make.log"
    started = time.time()
    status = _make(command, directory, log)
    if status != 0:
        # An object older than this make that make trusted may be one a killed compiler left
        # half-written (SIGKILL, e.g. a scheduler's time limit: make cannot delete it), which
        # would fail every later link: compile everything once more before giving up.
        objects = list(Path(directory).rglob("*.o"))
        if any(obj.stat().st_mtime < started for obj in objects):
            for obj in objects:
                obj.unlink()
            status = _make(command, directory, log)
    if status != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(
            f"Project compilation failed (make exit status {status}) in {directory}; "
            f"the end of {log}:\n{tail}"
        )


def _make(command: str, directory: Path, log: Path) -> int:
    with open(log, "w") as out:
        return subprocess.run(
            command, shell=True, cwd=directory, stdout=out, stderr=subprocess.STDOUT
        ).returncode


def record_in_name_order(net: Network) -> None:
    """Give the network's spike and event monitors their recorded variables in name order.

    Brian2 keeps them as a set of names; brian2cuda's monitor template lists them in its
    order (Brian2's C++ template sorts them), which changes with each process's string hash
    seed: every job then generated other monitor code and compiled it again.
    """
    for obj in net.objects:
        kwds = getattr(obj, "template_kwds", None) or {}
        if isinstance(kwds.get("record_variables"), dict):
            kwds["record_variables"] = dict(sorted(kwds["record_variables"].items()))


class Runner:
    """Run one network many times with new initial values, on any backend.

    On standalone backends the network is compiled once; every `run` executes the same binary
    with the given values as ``run_args``. On the runtime backend the values are assigned and
    ``Network.run`` is called. Either way, read results from the groups afterwards
    (``group.v[:]``).

    Parameters
    ----------
    backend : Backend
    net : Network
    duration : Quantity
        Simulated time of each run.
    directory : Path or None
        The standalone project directory returned by `activate`.
    """

    def __init__(self, backend: Backend, net: Network, duration, directory: Path | None):
        self.backend = backend
        self.net = net
        self.duration = duration
        self.directory = directory
        self._n_runs = 0
        self.program_peak_kb = 0  # largest peak memory (kB) of this runner's program runs
        self.compile_peak_kb = 0  # peak memory (kB) of the largest process of the build
        if backend.standalone:
            record_in_name_order(net)
            net.run(duration, namespace={})
            build(backend, directory, run=False)
            self.compile_peak_kb = _read_peak(directory / COMPILE_PEAK_NAME)

    def run(self, values: dict | None = None) -> None:
        """Run once. `values` maps ``group.variable`` views or `TimedArray` objects to arrays."""
        values = values or {}
        if not self.backend.standalone:
            for key, value in values.items():
                if isinstance(key, TimedArray):
                    # The generated numpy code reads this very array.
                    key.values[...] = np.asarray(value)
                elif np.size(value) == 1:
                    key[:] = np.ravel(value)[0] if np.ndim(value) else value
                else:
                    key[:] = value
            self.net.run(self.duration, namespace={})
            self._n_runs += 1
            return
        if self.backend.name == "cuda" and not gpu_available():
            raise RuntimeError("the CUDA project is compiled, but no GPU is available to run it")
        self._n_runs += 1
        args, files = _write_run_arg_files(self.directory, values)
        # The program writes every array into the results directory: into an empty one ~13 ms
        # faster than over the files of the run before last (ext4 truncates each of them); the
        # deletion costs ~2 ms. (That run's results were read; the last run's stay readable.)
        results = f"results_{self._n_runs % 2}"
        shutil.rmtree(self.directory / results, ignore_errors=True)
        # The arguments as prepared strings: Brian2 would hash every array a second time.
        device.run(
            directory=str(self.directory),
            results_directory=results,
            with_output=False,
            run_args=args,
        )
        device.run_args_arrays.extend(files)  # what cleanup deletes
        peak = _record_program_peak(self.directory / PEAK_NAME)
        self.program_peak_kb = max(self.program_peak_kb, peak)

    def cleanup(self) -> None:
        """Delete per-run argument files (one set per chunk accumulates otherwise)."""
        if self.backend.standalone:
            device.delete(code=False, data=False, directory=False, force=True, run_args=True)


def _write_run_arg_files(directory: Path, values: dict) -> tuple[list[str], list[str]]:
    """Write the files of the run's array arguments whole, before the program reads them;
    return the arguments as Brian2 passes them (``name=value``) and the files' names.

    Brian2 names the file of an array run argument after the md5 of its content and writes it
    only where no file of that name exists. A run killed while writing one (SIGKILL, a
    cluster's time limit) leaves it truncated under its final name, and the resumed run, which
    starts from the same checkpointed state and so passes the same content, would have its
    program read the truncated file. Here every file is written to a temporary name and
    renamed over any file of the final name, so no truncated file is ever read.

    The files are named in lower case: brian2cuda's program lower-cases every value it is
    given before it opens the file one names, and would miss a file named after a group or
    variable with capitals in its name (``I_syn`` of a model file), then run on the values of
    the chunk before with no more than a line on its stderr.
    """
    args, files = [], []
    for key, value in values.items():
        if isinstance(key, TimedArray):
            name, string, file, array = _timed_array_run_arg(key, value)
        else:
            name, string, file, array = device._prepare_variableview_run_arg(key, value)
        if file is not None:
            file = file.lower()
            string = os.path.join("static_arrays", file)
        args.append(f"{name}={string}")
        if file is None:
            continue  # a single value, passed on the command line
        files.append(file)
        path = directory / "static_arrays" / file
        # Brian2's lock for this file; the fixed temporary name means a file left by a writer
        # killed here is overwritten by the resumed run, which writes the same content.
        with FileLock(f"{path}.lock"):
            array.tofile(path.with_name(f"{file}.part"))
            os.replace(path.with_name(f"{file}.part"), path)
    return args, files


def _timed_array_run_arg(key: TimedArray, value) -> tuple[str, str, str | None, np.ndarray]:
    """Brian2's ``_prepare_timed_array_run_arg``, the file named after a CRC-32 of the values
    instead of their md5: ~8 ms instead of ~60 ms for the STDP chunk's 31 MB of stimulus.
    The name need not tell contents apart: every run writes its files anew (see above)."""
    fail_for_dimension_mismatch(key.dim, value)
    array = np.asarray(value, dtype=key.values.dtype)
    if array.size == 1:  # a single value, on the command line
        return f"{key.name}.values", repr(array.item()), None, array
    if array.shape != key.values.shape:
        raise TypeError(
            f"Incorrect size for variable '{key.name}.values'. "
            f"Shape {key.values.shape} != {array.shape}."
        )
    file = f"init_{key.name}_values_{zlib.crc32(array.data):08x}.dat"
    return f"{key.name}.values", os.path.join("static_arrays", file), file, array


_program_peak_kb = 0  # largest peak memory of a standalone program run by this process


def program_peak_mb() -> float:
    """Peak resident memory (MB) of the largest standalone program this process has run.

    Measured by `locked_run` for each program on its own; 0 if none ran (runtime backend, or
    a platform without the measurement).
    """
    return round(_program_peak_kb / 1024, 1)


def _read_peak(path: Path) -> int:
    """The peak (kB) `locked_run` wrote to `path` (0 if none: a measurement only)."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0


def _record_program_peak(path: Path) -> int:
    """The peak (kB) `locked_run` wrote for the program that just ran (0 if none), also kept
    as this process's maximum."""
    global _program_peak_kb
    peak = _read_peak(path)
    _program_peak_kb = max(_program_peak_kb, peak)
    return peak
