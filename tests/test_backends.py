"""Selecting a backend and building projects (`bioclf.brian.backends`)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2
import numpy as np
import pytest
from brian2 import Network, NeuronGroup, device, ms, network_operation
from conftest import ctrl_c, sigint_default

from bioclf.brian import backends


def _generate(build_dir: Path) -> list[str]:
    """Generate (not compile) a small project; return its code objects' file names."""
    directory = backends.activate(backends.Backend("cpp", build_dir=build_dir), "project")
    group = NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", name="g")
    net = Network(group)
    net.itself = net  # a reference cycle, as every real network has: refcounts do not free it
    net.run(1 * ms)
    device.build(directory=str(directory), compile=False, run=False, with_output=False)
    return sorted(path.name for path in (directory / "code_objects").glob("*.cpp"))


def test_make_runs_no_more_compilers_than_the_slurm_job_has_cpus(monkeypatch):
    """A SLURM job whose CPUs are not pinned sees the whole node: make ran a compiler per CPU
    of the node (~200 MB each) in a job given one CPU and 2.1 GB."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert backends.make_jobs() == 64  # outside SLURM: every CPU the process may use
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert backends.make_jobs() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "128")  # pinned to fewer than it was given
    assert backends.make_jobs() == 64
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")
    assert backends.make_jobs() == 64


def test_a_network_built_again_in_one_process_keeps_its_file_names(tmp_path):
    """The second build of the same network in a process writes the same files, so make
    compiles nothing again (code objects renamed "..._1" would all be compiled anew)."""
    first = _generate(tmp_path)
    second = _generate(tmp_path)
    assert first == second
    assert any(name.startswith("g_stateupdater_codeobject") for name in first)


# A network with what Brian2 writes in the order of a Python set: clocks (the default one, a
# slower one, a regular operation's), a monitor of several variables, two pathways' delays
_SET_ORDERS = """
import sys
from pathlib import Path
from brian2 import Clock, Network, NeuronGroup, SpikeMonitor, Synapses, ms
from bioclf.brian import backends
backends.compile_project = lambda directory: None  # generated, not compiled
backend = backends.Backend("cpp", build_dir=Path(sys.argv[1]))
directory = backends.activate(backend, "project")
g = NeuronGroup(4, "dv/dt = -v/(10*ms) : 1\\nw : 1", threshold="v > 1", reset="v = 0", name="g")
h = NeuronGroup(2, "x : 1", clock=Clock(2 * ms, name="slow"), name="h")
g.run_regularly("v += 0.5", dt=1 * ms, name="kick")
s = Synapses(g, g, "c : 1", on_pre="v_post += c", on_post="c += 0.1", name="s")
s.connect(p=1)
s.pre.delay = 1 * ms
s.post.delay = 2 * ms
mon = SpikeMonitor(g, variables=["w", "v"], name="mon")
backends.Runner(backend, Network(g, h, s, mon), 5 * ms, directory)
"""


def test_a_network_built_again_in_another_process_rewrites_no_file(tmp_path):
    """Brian2 writes clock resets, monitors' variables and two delays in the order of a Python
    set, which changes between processes (string hash seed, addresses): built again in another
    process, the same network must leave every source file as it was, or make compiles it
    (and links) again at every job (`cpp_patches`, `backends.record_in_name_order`)."""
    project = tmp_path / "project"

    def build(seed: str) -> dict:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run(
            [sys.executable, "-c", _SET_ORDERS, str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        sources = [*project.glob("*.cpp"), *project.glob("*.h"), *project.rglob("code_objects/*")]
        return {path: (path.read_text(), path.stat().st_mtime_ns) for path in sources}

    first = build("1")
    assert "main.cpp" in {path.name for path in first}
    for seed in ("2", "3"):
        assert build(seed) == first


def test_512_bit_vectors_only_on_intel_processors_with_amx(tmp_path):
    def cpuinfo(vendor: str, flags: str) -> str:
        # two processors, as /proc/cpuinfo lists them; the first one decides
        one = f"processor\t: {{}}\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\n"
        path = tmp_path / f"{vendor}_{len(flags)}"
        path.write_text(one.format(0) + one.format(1))
        return str(path)

    wide = "-mprefer-vector-width=512"
    assert wide in backends.gcc_flags(cpuinfo("GenuineIntel", "fma avx512f avx512bw amx_tile"))
    # Zen 4 has AVX-512 and was slower with 512-bit vectors; older Intel lower their clock
    assert wide not in backends.gcc_flags(cpuinfo("AuthenticAMD", "avx512f amx_tile"))
    assert wide not in backends.gcc_flags(cpuinfo("GenuineIntel", "fma avx512f avx512bw"))
    # no /proc/cpuinfo: the defaults
    assert backends.gcc_flags(str(tmp_path / "absent")) == backends._GCC_FLAGS


def test_ctrl_c_interrupts_a_run(tmp_path, monkeypatch):
    """Ctrl-C during a run raises KeyboardInterrupt (`tasks.run`: "interrupted; run the same
    command again to resume"). Brian2's default swallows the first one: the run stopped early
    and the task went on with its next chunk (on a standalone backend the program died of it
    and Brian2 reported a failed run)."""
    # as in a process started from a terminal, whatever SIGINT did when pytest started
    monkeypatch.setattr(brian2._int_handler, "previous_handler", signal.default_int_handler)
    before = signal.signal(signal.SIGINT, brian2._int_handler)
    try:
        _ctrl_c_stops_a_run()
    finally:
        signal.signal(signal.SIGINT, before)


def _ctrl_c_stops_a_run():
    backends.activate(backends.Backend("runtime"), "project")
    group = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1")
    steps = []

    @network_operation(when="end")
    def ctrl_c():
        steps.append(1)
        if len(steps) == 5:
            signal.raise_signal(signal.SIGINT)

    net = Network(group, ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        net.run(10 * ms)
    assert len(steps) <= 6  # at once, not at the end of the run (100 steps)


@pytest.mark.parametrize("inherited", ["SIG_IGN", "SIG_DFL"])
def test_a_process_started_with_sigint_ignored_or_default_keeps_it(inherited):
    """Brian2's import puts its handler in place of an inherited SIG_IGN (``cmd &`` in a
    script: a non-interactive shell's background job; not ``nohup``, which ignores SIGHUP
    only) or SIG_DFL and then calls that as a function: a SIGINT during a run gave a
    TypeError traceback. The process now keeps what it was started with: ignored, the run
    goes on; default, it dies of the signal."""
    script = f"""
import signal
signal.signal(signal.SIGINT, signal.{inherited})
from brian2 import Network, NeuronGroup, ms, network_operation
from bioclf.brian import backends
backends.activate(backends.Backend("runtime"), "project")
steps = []
@network_operation(when="end")
def ctrl_c():
    steps.append(1)
    if len(steps) == 5:
        signal.raise_signal(signal.SIGINT)
Network(NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", method="exact"), ctrl_c).run(1 * ms)
print(len(steps))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "TypeError" not in res.stderr, res.stderr[-2000:]
    if inherited == "SIG_IGN":
        assert res.returncode == 0 and res.stdout.split()[-1] == "10", res.stderr[-2000:]
    else:
        assert res.returncode == -signal.SIGINT and not res.stdout


@pytest.mark.standalone
def test_ctrl_c_during_compilation_is_an_interruption(tmp_path):
    """Ctrl-C while make compiles a project is reported as an interruption (exit 130), not as
    a failed compilation with a traceback (Brian2 runs make with os.system, under which this
    process never sees the Ctrl-C)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from brian2 import Network, NeuronGroup, ms\n"
        "from bioclf import tasks\n"
        "from bioclf.brian import backends\n"
        "def main(argv):\n"
        f"    backend = backends.Backend('cpp', build_dir=Path({str(tmp_path)!r}))\n"
        "    directory = backends.activate(backend, 'project')\n"
        "    group = NeuronGroup(2, 'dv/dt = -v/(10*ms) : 1', threshold='v > 1', reset='v = 0')\n"
        "    Network(group).run(1 * ms)\n"
        "    backends.build(backend, directory)\n"
        "sys.exit(tasks.run(main, resumes=True))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's Ctrl-C reaches
        preexec_fn=sigint_default,
    )

    def compiling():  # make logs each command before it runs it
        logs = [p.read_text() for p in tmp_path.rglob("make.log")]
        compilers = ("g++", "c++", "gcc", "cc ")
        return any(line.startswith(compilers) for t in logs for line in t.splitlines())

    out, err = ctrl_c(proc, compiling, timeout=120)
    assert proc.returncode == 130, err
    assert "g++" not in out and "g++" not in err  # the compiler's lines stay in make.log
    assert "interrupted; run the same command again to resume" in err
    assert "Traceback" not in err


@pytest.mark.standalone
def test_a_failed_compilation_shows_the_compilers_message(tmp_path):
    """make's output goes to the project's make.log, not to the task's output; a failed
    compilation raises with the end of that log, so the compiler's error is seen."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "makefile").write_text(
        "all:\n\t@echo compiling\n\t@echo 'broken.cpp:1: error: boom'; false\n"
    )
    with pytest.raises(RuntimeError, match="(?s)make exit status 2.*broken.cpp:1: error: boom"):
        backends.compile_project(directory)
    assert "compiling" in (directory / "make.log").read_text()


def test_make_runs_a_compiler_per_cpu_the_process_may_use(tmp_path, monkeypatch):
    """Brian2's ``make -j`` starts a compiler per file at once (50-60 nvcc for the STDP
    network); bioclf's make runs as many as the CPUs the process may use (a cluster job's)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    backends.activate(backends.Backend("cpp", build_dir=tmp_path), "project")
    directory = tmp_path / "project"
    (directory / "makefile").write_text("all:\n\t@echo 'flags: $(MAKEFLAGS)'\n")
    backends.compile_project(directory)
    assert "-j3" in (directory / "make.log").read_text().split()


def test_an_object_a_killed_compiler_left_half_written_is_compiled_again(tmp_path):
    """An object newer than its source but truncated (the compiler killed with SIGKILL, which
    make cannot clean up) made every later build fail at the link; the objects are compiled
    once more from scratch."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "makefile").write_text(
        f"main: a.o\n\t{cc} -o main a.o\na.o: a.c\n\t{cc} -c a.c -o a.o\n"
    )
    (directory / "a.c").write_text("int main(void) { return 0; }\n")
    (directory / "a.o").write_bytes(b"\x7fELF\x02\x01")  # cut off, newer than a.c
    past = time.time() - 60
    os.utime(directory / "a.c", (past - 60, past - 60))
    os.utime(directory / "a.o", (past, past))
    backends.compile_project(directory)
    assert subprocess.run([str(directory / "main")]).returncode == 0


# A CUDA driver of a node with two GPUs: in PCI bus order an A100 (8.0), then an H100 (9.0).
# Like CUDA it lists the fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, and only the
# devices that CUDA_VISIBLE_DEVICES names (by index in that order, or by UUID).
_FAKE_DRIVER = r"""
#include <stdlib.h>
#include <string.h>
static const int cc[2][2] = {{8, 0}, {9, 0}};
static const char *uuid[2] = {"GPU-aaaaaaaa-0000-0000-0000-000000000000",
                              "GPU-bbbbbbbb-1111-1111-1111-111111111111"};
static int order[2], n;
int cuInit(unsigned flags) {
    const char *by = getenv("CUDA_DEVICE_ORDER"), *visible = getenv("CUDA_VISIBLE_DEVICES");
    int pci = by && !strcmp(by, "PCI_BUS_ID"), all[2] = {pci ? 0 : 1, pci ? 0 : 1};
    all[1] = 1 - all[0];
    if (!visible) { order[0] = all[0]; order[1] = all[1]; n = 2; return 0; }
    char buf[256]; strncpy(buf, visible, 255); buf[255] = 0;
    n = 0;
    for (char *tok = strtok(buf, ","); tok && n < 2; tok = strtok(NULL, ",")) {
        if (!strncmp(tok, "GPU-", 4)) {
            for (int g = 0; g < 2; g++) if (!strcmp(tok, uuid[g])) order[n++] = g;
        } else if (*tok >= '0' && *tok <= '1' && !tok[1]) order[n++] = all[*tok - '0'];
        else break;  /* CUDA stops at the first entry it cannot use */
    }
    return n ? 0 : 100;  /* CUDA_ERROR_NO_DEVICE */
}
int cuDeviceGet(int *dev, int ordinal) {
    if (ordinal >= n) return 101;
    *dev = order[ordinal]; return 0;
}
int cuDeviceGetAttribute(int *value, int attribute, int dev) {
    if (attribute != 75 && attribute != 76) return 1;
    *value = cc[dev][attribute - 75]; return 0;
}
int cuDeviceGetUuid(unsigned char *out, int dev) {
    const char *s = uuid[dev] + 4;
    for (int i = 0; i < 16; i++) {
        while (*s == '-') s++;
        char byte[3] = {s[0], s[1], 0}; out[i] = (unsigned char)strtol(byte, NULL, 16); s += 2;
    }
    return 0;
}
"""


@pytest.fixture
def fake_gpu_node(tmp_path, monkeypatch):
    """A fake CUDA driver (`_FAKE_DRIVER`) as the one `visible_gpu` asks, and a fake
    nvidia-smi that, as the real one, calls the A100 (first on the PCI bus) GPU 0 whatever
    CUDA_VISIBLE_DEVICES says."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the fake CUDA driver")
    src, lib = tmp_path / "fake_cuda.c", tmp_path / "libcuda_fake.so"
    src.write_text(_FAKE_DRIVER)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text('#!/bin/sh\ncase "$*" in *compute_cap*) echo 8.0;; *) echo "GPU 0: A";; esac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(backends, "LIBCUDA", str(lib))
    monkeypatch.setattr(backends, "_visible_gpus", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "visible, order, capability, uuid",
    [
        (None, None, 9.0, "GPU-bbbbbbbb-1111-1111-1111-111111111111"),  # fastest first
        (None, "PCI_BUS_ID", 8.0, "GPU-aaaaaaaa-0000-0000-0000-000000000000"),
        ("1", None, 8.0, "GPU-aaaaaaaa-0000-0000-0000-000000000000"),
        ("1,0", "PCI_BUS_ID", 9.0, "GPU-bbbbbbbb-1111-1111-1111-111111111111"),
        ("GPU-bbbbbbbb-1111-1111-1111-111111111111", "PCI_BUS_ID", 9.0, None),
        ("GPU-aaaaaaaa-0000-0000-0000-000000000000", None, 8.0, None),
    ],
)
def test_cuda_code_is_compiled_for_the_gpu_cuda_will_run_it_on(
    fake_gpu_node, tmp_path, visible, order, capability, uuid
):
    """On a node with two kinds of GPU, the architecture is that of CUDA's device 0 (the
    program's ``cudaSetDevice(0)``), which CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER select;
    not nvidia-smi's GPU 0 (the first on the PCI bus, whatever the two variables say)."""
    from brian2 import prefs

    for name, value in (("CUDA_VISIBLE_DEVICES", visible), ("CUDA_DEVICE_ORDER", order)):
        if value is not None:
            fake_gpu_node.setenv(name, value)
    gpu = backends.visible_gpu()
    assert gpu.compute_capability == capability
    assert gpu.uuid == (uuid or visible)
    backends.activate(backends.Backend("cuda", build_dir=tmp_path), "p")
    assert prefs.devices.cuda_standalone.cuda_backend.compute_capability == capability
    assert prefs.devices.cuda_standalone.cuda_backend.gpu_id == 0


def test_without_a_visible_gpu_cuda_code_is_compiled_for_the_default(fake_gpu_node, tmp_path):
    from brian2 import prefs

    assert backends.gpu_available()
    fake_gpu_node.setenv("CUDA_VISIBLE_DEVICES", "")  # a scheduler that gave this job no GPU
    assert backends.visible_gpu() is None
    assert not backends.gpu_available()  # though nvidia-smi lists the node's GPUs
    backends.activate(backends.Backend("cuda", build_dir=tmp_path, compute_capability=8.6), "p")
    assert prefs.devices.cuda_standalone.cuda_backend.compute_capability == 8.6
    # no driver at all (this machine without a GPU)
    assert backends.visible_gpu(str(tmp_path / "absent.so")) is None


def _fake_project(directory: Path) -> list[Path]:
    """Headers, a makefile naming its own directory (as brian2cuda's does) and objects."""
    (directory / "code_objects").mkdir(parents=True)
    (directory / "objects.h").write_text("extern double *_array_g_v;\n")
    (directory / "code_objects" / "g_codeobject.h").write_text("void _run_g();\n")
    (directory / "makefile").write_text(f"NVCCFLAGS = -arch=sm_80\nLFLAGS = -L{directory}/lib\n")
    return _compile_fake(directory)


def _compile_fake(directory: Path) -> list[Path]:
    objects = [directory / "main.o", directory / "code_objects" / "g_codeobject.o"]
    for obj in objects:
        obj.write_bytes(b"compiled")
    return objects


def test_objects_compiled_against_other_headers_or_flags_are_compiled_again(tmp_path):
    """make compiles an object again only when its own source changed (brian2cuda's makefile
    names no header and not itself; Brian2's make.deps misses the code objects): a changed
    header or compiler flag (another GPU architecture) must not leave objects of the old."""
    project = tmp_path / "p"
    objects = _fake_project(project)
    forget = backends.forget_objects_of_other_headers
    assert forget(project)  # compiled before the stamp existed: not known, compiled again
    assert not any(obj.exists() for obj in objects)
    _compile_fake(project)
    assert not forget(project)
    assert all(obj.exists() for obj in objects)
    header = project / "objects.h"
    header.write_text(header.read_text())  # what Brian2 never does, but a new time only
    assert not forget(project)
    header.write_text("extern float *_array_g_v;\n")  # a changed declaration
    assert forget(project) and not any(obj.exists() for obj in objects)
    _compile_fake(project)
    makefile = project / "makefile"
    makefile.write_text(makefile.read_text().replace("sm_80", "sm_90"))  # another GPU
    assert forget(project) and not any(obj.exists() for obj in objects)
    _compile_fake(project)
    assert not forget(project)
    # a copy of the compiled project (its makefile names the copy's directory once
    # regenerated there) keeps its objects
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    makefile = copy / "makefile"
    makefile.write_text(makefile.read_text().replace(str(project), str(copy)))
    assert not forget(copy)
    assert (copy / "main.o").exists()


def test_objects_compiled_for_another_processor_are_compiled_again(tmp_path, monkeypatch):
    """A build directory shared by cluster nodes of other processors: the same makefile's
    -march=native means another instruction set on each, so the objects of one node are
    compiled again on the other (they could die of an illegal instruction there)."""
    project = tmp_path / "p"
    objects = _fake_project(project)
    makefile = project / "makefile"
    makefile.write_text(makefile.read_text() + "OPTIMISATIONS = -O3 -march=native\n")
    target = {"now": "-march= znver4"}
    monkeypatch.setattr(backends, "native_target", lambda: target["now"])
    forget = backends.forget_objects_of_other_headers
    assert forget(project)
    _compile_fake(project)
    assert not forget(project) and all(obj.exists() for obj in objects)
    target["now"] = "-march= sapphirerapids"  # another node
    assert forget(project) and not any(obj.exists() for obj in objects)
    _compile_fake(project)
    assert not forget(project)


def test_the_native_target_is_the_compilers_description_of_this_machine(monkeypatch):
    monkeypatch.setattr(backends, "_native_targets", {})
    monkeypatch.setenv("CXX", "g++")
    described = backends.native_target()
    assert "-march=" in described
    monkeypatch.setattr(backends, "_native_targets", {})  # asked again, not the cached answer
    assert backends.native_target() == described  # (else every build compiles everything)
    # no such compiler: the processor's fields instead, not an error
    monkeypatch.setenv("CXX", "no-such-compiler-bioclf")
    assert "flags: " in backends.native_target()


def _native_target_beside_a_terminal(monkeypatch) -> str:
    """`native_target` run from a 40-column terminal (its stdin), with COLUMNS and the
    language of a user's shell set."""
    import fcntl
    import pty
    import struct
    import termios

    monkeypatch.setattr(backends, "_native_targets", {})
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    stdin = os.dup(0)
    os.dup2(slave, 0)
    try:
        return backends.native_target()
    finally:
        os.dup2(stdin, 0)
        for fd in (stdin, slave, master):
            os.close(fd)


@pytest.mark.parametrize("compiler", ["fake", "g++"])
def test_the_native_target_is_the_same_from_a_terminal(tmp_path, monkeypatch, compiler):
    """gcc wraps --help to the terminal's width (COLUMNS, else the width of the terminal on
    its stdin) and translates it to the user's language: a task run from a shell, then by
    Snakemake (no terminal), found another digest and compiled every object again."""
    if compiler == "fake":  # says what the real one reads
        compiler = tmp_path / "c++"
        compiler.write_text(
            '#!/bin/sh\necho "-march= x $COLUMNS $LC_ALL"; [ -t 0 ] && echo tty; exit 0\n'
        )
        compiler.chmod(0o755)
    elif shutil.which(compiler) is None:
        pytest.skip("no g++")
    monkeypatch.setenv("CXX", str(compiler))
    beside_a_terminal = _native_target_beside_a_terminal(monkeypatch)
    monkeypatch.setattr(backends, "_native_targets", {})
    for name in ("COLUMNS", "LC_ALL", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    with open(os.devnull) as null:
        stdin = os.dup(0)
        os.dup2(null.fileno(), 0)
        try:
            alone = backends.native_target()
        finally:
            os.dup2(stdin, 0)
            os.close(stdin)
    assert "-march=" in alone and beside_a_terminal == alone


def _build_cpp(build_dir: Path, extra_variable: bool) -> Path:
    """Generate and compile a small cpp_standalone project; `extra_variable` adds a variable
    that no code object uses: a declaration in objects.h, the same files otherwise."""
    from brian2 import NeuronGroup

    backend = backends.Backend("cpp", build_dir=build_dir)
    directory = backends.activate(backend, "project")
    eqs = "dv/dt = -v/(10*ms) : 1" + ("\nx : 1" if extra_variable else "")
    group = NeuronGroup(2, eqs, threshold="v > 1", reset="v = 0", name="g")
    Network(group).run(1 * ms)
    backends.build(backend, directory)
    return directory


@pytest.mark.standalone
def test_a_header_that_brian2_changes_compiles_the_objects_that_include_it(tmp_path):
    """Built again unchanged, nothing is compiled; after a change to objects.h alone (a new
    variable) the state updater, whose source is unchanged, is compiled again."""
    directory = _build_cpp(tmp_path, extra_variable=False)
    obj = directory / "code_objects" / "g_stateupdater_codeobject.o"
    source = obj.with_suffix(".cpp")
    compiled, text = obj.stat().st_mtime_ns, source.read_text()
    makefile = (directory / "makefile").read_text()
    _build_cpp(tmp_path, extra_variable=False)
    assert obj.stat().st_mtime_ns == compiled
    _build_cpp(tmp_path, extra_variable=True)
    assert "_array_g_x" in (directory / "objects.h").read_text()
    # neither its source nor the makefile changed: make alone would not compile it again
    assert source.read_text() == text and (directory / "makefile").read_text() == makefile
    assert obj.stat().st_mtime_ns > compiled


def test_the_link_to_the_wheels_curand_is_made_and_mended(tmp_path, monkeypatch):
    """Without a CUDA toolkit's cuRAND the CUDA build links the pip wheel's libcurand.so.N
    through a libcurand.so link in the build directory. A link left to a library since removed
    (another torch installed) made every later CUDA build fail with FileExistsError; two
    processes building beside each other could too. It is replaced by renaming over it."""
    include, lib = tmp_path / "wheel" / "include", tmp_path / "wheel" / "lib"
    include.mkdir(parents=True)
    lib.mkdir()
    (include / "curand.h").touch()
    (lib / "libcurand.so.10").touch()
    monkeypatch.setenv("CUDA_PATH", str(tmp_path / "no_toolkit"))
    monkeypatch.setattr(backends, "_nvidia_wheel_dirs", lambda: (include, lib))
    link = tmp_path / "build" / "_curand" / "libcurand.so"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "old_torch" / "libcurand.so.9")  # dangling
    assert backends._use_wheel_curand(tmp_path / "build") == [f"-I{include}"]
    assert link.resolve() == lib / "libcurand.so.10"
    assert backends._use_wheel_curand(tmp_path / "build") == [f"-I{include}"]  # again: kept
    assert sorted(p.name for p in link.parent.iterdir()) == ["libcurand.so"]


@pytest.mark.parametrize("layout", ["nvidia/cu13", "nvidia/curand"])
def test_the_wheels_curand_is_found_in_cuda_13_and_cuda_12_layouts(tmp_path, monkeypatch, layout):
    """torch's cu13x builds install the CUDA wheels under nvidia/cu13/, its cu12x builds one
    package per library (nvidia/curand/): only the first was looked for, so with a cu12x torch
    and a toolkit without cuRAND the CUDA program failed to link (-lcurand)."""
    base = tmp_path / "site" / layout
    (base / "include").mkdir(parents=True)
    (base / "lib").mkdir()
    (base / "include" / "curand.h").touch()
    monkeypatch.setattr(sys, "path", [str(tmp_path / "empty"), str(tmp_path / "site")])
    assert backends._nvidia_wheel_dirs() == (base / "include", base / "lib")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "empty")])
    assert backends._nvidia_wheel_dirs() is None


@pytest.mark.parametrize(
    "libdir, files", [("lib64", ["libcurand.so", "libcurand.so.10"]), ("lib", ["libcurand.so.10"])]
)
def test_a_toolkits_curand_is_linked_where_its_library_is(tmp_path, monkeypatch, libdir, files):
    """A toolkit installed by NVIDIA keeps libcurand.so in lib64; one assembled from the pip
    wheels (as this project's machines have it) only libcurand.so.10, in lib. The second was
    taken for a toolkit's (its curand.h found) and left to nvcc: ``-lcurand`` finds no
    libcurand.so, and the program could not have found the library at run time either."""
    from brian2 import prefs

    home = tmp_path / "cuda"
    (home / "include").mkdir(parents=True)
    (home / "include" / "curand.h").touch()
    (home / libdir).mkdir()
    for name in files:
        (home / libdir / name).touch()
    monkeypatch.setenv("CUDA_PATH", str(home))
    monkeypatch.setattr(backends, "_nvidia_wheel_dirs", lambda: None)
    build = tmp_path / "build"
    assert backends._use_wheel_curand(build) == [f"-I{home / 'include'}"]
    assert prefs.codegen.cpp.runtime_library_dirs == [str(home / libdir)]
    (searched,) = prefs.codegen.cpp.library_dirs
    # what -lcurand finds there: the toolkit's own libcurand.so, else a link to the versioned
    assert (Path(searched) / "libcurand.so").resolve() == home / libdir / files[0]
    assert (build / "_curand").exists() == (libdir == "lib")


def test_run_argument_files_are_named_in_lower_case(tmp_path):
    """brian2cuda's program lower-cases each run argument's value before it opens the file the
    value names: a file named after a variable or TimedArray with capitals (``I_ext`` of a
    model file) would not be found there, and the program would run on the last chunk's values
    (a line on its stderr alone). The files are written, and named, in lower case; the
    arguments name them and hold the values given."""
    from brian2 import TimedArray

    directory = backends.activate(backends.Backend("cpp", build_dir=tmp_path), "p")
    (directory / "static_arrays").mkdir()
    group = NeuronGroup(3, "dI_ext/dt = -I_ext / ms : 1", name="G")
    Network(group).run(0 * ms)  # (recorded for the standalone build, which is not made)
    drive = TimedArray(np.zeros((4, 3)), dt=1 * ms, name="Drive")
    values = {group.I_ext: np.array([1.0, 2.0, 3.0]), drive: np.arange(12.0).reshape(4, 3)}
    args, files = backends._write_run_arg_files(directory, values)
    assert [a.split("=")[0] for a in args] == ["G.I_ext", "Drive.values"]
    assert len(files) == 2 and all(f == f.lower() for f in files)
    for arg, value in zip(args, values.values(), strict=True):
        path = arg.split("=", 1)[1]
        assert path == path.lower() and path.startswith("static_arrays/")
        np.testing.assert_array_equal(np.fromfile(directory / path), value.ravel())
