"""Selecting a backend and building projects (`bioclf.brian.backends`)."""

from pathlib import Path

from brian2 import Network, NeuronGroup, device, ms

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
