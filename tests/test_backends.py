"""Selecting a backend and building projects (`bioclf.brian.backends`)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from brian2 import Network, NeuronGroup, device, ms, network_operation

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


def test_a_network_built_again_in_one_process_keeps_its_file_names(tmp_path):
    """The second build of the same network in a process writes the same files, so make
    compiles nothing again (code objects renamed "..._1" would all be compiled anew)."""
    first = _generate(tmp_path)
    second = _generate(tmp_path)
    assert first == second
    assert any(name.startswith("g_stateupdater_codeobject") for name in first)


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


def test_ctrl_c_interrupts_a_run(tmp_path):
    """Ctrl-C during a run raises KeyboardInterrupt (`tasks.run`: "interrupted; run the same
    command again to resume"). Brian2's default swallows the first one: the run stopped early
    and the task went on with its next chunk (on a standalone backend the program died of it
    and Brian2 reported a failed run)."""
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
        "sys.exit(tasks.run(main))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's Ctrl-C reaches
    )
    try:
        for line in proc.stdout:  # make prints each command before it runs it
            if line.startswith(("g++", "c++", "gcc", "cc ")):
                break
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted; run the same command again to resume" in err
    assert "Traceback" not in err
