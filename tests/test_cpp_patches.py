"""The patches of generated C++ projects (`bioclf.brian.cpp_patches`).

Their effect on results (none: bit-identical) is tested by the runtime/cpp parity test in
test_stdp_network.py, by the LIF tests on cpp and by the delivery test at the end of this
module; the other tests here check what they change and that they refuse code they do not know.
"""

import shutil
from pathlib import Path

import brian2
import numpy as np
import pytest

from bioclf.brian import cpp_patches

BRIAN_QUEUE = Path(brian2.__file__).parent / "synapses" / "spikequeue.h"
# The scheduler's source: the parts the patch changes hold no template syntax.
BRIAN_NETWORK = Path(brian2.__file__).parent / "devices/cpp_standalone/templates/network.cpp"

PATHWAY = """class SynapticPathway
{
\tSynapticPathway(std::vector<int> &_sources, int _spikes_start, int _spikes_stop)
\t{
\t   _nb_threads = 1;
\t}
\tvector<int32_t>* peek()
    {
    }
};
"""

CONSUMER = """void _run_s_pre_codeobject()
{
    {
    std::vector<int> *_spiking_synapses = s_pre.peek();
    const int _num_spiking_synapses = _spiking_synapses->size();


    {
        for(int _spiking_synapse_idx=0;
            _spiking_synapse_idx<_num_spiking_synapses;
            _spiking_synapse_idx++)
        {
            const size_t _idx = (*_spiking_synapses)[_spiking_synapse_idx];
            const int32_t _postsynaptic_idx = _ptr_array_s__synaptic_post[_idx];
            double w = _ptr_array_s_w[_idx];
            _ptr_array_exc_ge[_postsynaptic_idx] += w;
        }
    }
    }
}
"""

UPDATER = """void _run_exc_stateupdater_codeobject()
{
    const int64_t _lio_1 = _timestep(t_ref, dt);
    const int _N = N;
    for(int _idx=0; _idx<_N; _idx++)
    {
        const double lastspike = _ptr_array_exc_lastspike[_idx];
        char not_refractory = _ptr_array_exc_not_refractory[_idx];
        not_refractory = _timestep(t - lastspike, dt) >= _lio_1;
        _ptr_array_exc_not_refractory[_idx] = not_refractory;
    }
}
"""

THRESHOLD = """void _run_exc_spike_thresholder_codeobject()
{
    const int64_t N = 400;
    const double _lio_1 = v_th - theta_offset;
    long _count = 0;
    for(size_t _idx=0; _idx<N; _idx++)
    {
        const size_t _vectorisation_idx = _idx;
        const char not_refractory = _ptr_array_exc_not_refractory[_idx];
        const double v = _ptr_array_exc_v[_idx];
        char _cond;
        if(!not_refractory)
            _cond = (v > _lio_1) && false;
        else
            _cond = (v > _lio_1) && true;

        if(_cond) {
            _ptr_array_exc__spikespace[_count++] = _idx;
            _ptr_array_exc_not_refractory[_idx] = false;
            _ptr_array_exc_lastspike[_idx] = _ptr_array_defaultclock_t[0];
        }
    }
    _ptr_array_exc__spikespace[N] = _count;
}
"""

WRITES_LASTSPIKE = "        _ptr_array_exc_lastspike[_idx] = t;\n"


def _project(tmp_path, pathway=PATHWAY, consumer=CONSUMER, updater=UPDATER, threshold=THRESHOLD):
    (tmp_path / "brianlib").mkdir()
    (tmp_path / "code_objects").mkdir()
    shutil.copy(BRIAN_QUEUE, tmp_path / "brianlib" / "spikequeue.h")
    (tmp_path / "synapses_classes.h").write_text(pathway)
    (tmp_path / "code_objects" / "s_pre_codeobject.cpp").write_text(consumer)
    (tmp_path / "code_objects" / "exc_stateupdater_codeobject.cpp").write_text(updater)
    (tmp_path / "code_objects" / "exc_spike_thresholder_codeobject.cpp").write_text(threshold)
    return tmp_path


def _texts(directory):
    return {p: p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_patches_the_queue_the_synaptic_loop_and_the_state_updater(tmp_path):
    project = _project(tmp_path)
    assert cpp_patches.patch_project(project)
    patched = ("brianlib/spikequeue.h", "synapses_classes.h", "code_objects/s_pre_codeobject.cpp")
    for name in patched:
        assert cpp_patches.QUEUE_MARK in (project / name).read_text(), name
    loop = (project / "code_objects" / "s_pre_codeobject.cpp").read_text()
    assert "s_pre.bioclf_peek_ranges()" in loop and ".peek()" not in loop
    # The arrays read per synapse (not those read per target) are fetched range by range.
    assert loop.count("__builtin_prefetch(") == 2
    assert "__builtin_prefetch(&_ptr_array_s__synaptic_post[_bioclf_first]);" in loop
    assert "__builtin_prefetch(&_ptr_array_s_w[_bioclf_first]);" in loop
    assert loop.count("{") == loop.count("}")
    updater = (project / "code_objects" / "exc_stateupdater_codeobject.cpp").read_text()
    assert cpp_patches.REFRACTORY_MARK in updater and "_timestep(t - lastspike" not in updater
    assert "#pragma GCC ivdep\n    for(int _idx=0;" in updater
    # The flags are stored after the update loop, in a loop of their own.
    update_loop, flag_loop = updater.split("the flags, in a loop of their own")
    assert "_ptr_array_exc_not_refractory[_idx] =" not in update_loop
    assert "_ptr_array_exc_not_refractory[_idx] = (_lio_1 <= 0) ||" in flag_loop
    assert "(t - _ptr_array_exc_lastspike[_idx] + 1e-3*dt)/dt >= _lio_1);" in flag_loop
    assert updater.count("{") == updater.count("}")
    threshold = (project / "code_objects" / "exc_spike_thresholder_codeobject.cpp").read_text()
    assert cpp_patches.THRESHOLD_MARK in threshold and threshold.count("{") == threshold.count("}")
    # The condition goes into the mask; the event is filed as before, from the mask.
    mask_pass, event_pass = threshold.split("long _count = 0;")
    assert "_bioclf_m[_idx] = _cond;" in mask_pass and "(v > _lio_1) && true;" in mask_pass
    assert "_spikespace[_count++]" not in mask_pass
    # ... from the set bytes of the mask, 64 neurons at a time, each byte's neuron in order
    assert "_bioclf_b+=64" in event_pass and "__builtin_ctzll(_bioclf_word) & ~7" in event_pass
    assert "_ptr_array_exc__spikespace[_count++] = _idx;" in event_pass
    assert "_ptr_array_exc_lastspike[_idx] = _ptr_array_defaultclock_t[0];" in event_pass
    assert event_pass.rstrip().endswith("_ptr_array_exc__spikespace[N] = _count;\n}")
    # Patching again changes nothing.
    before = _texts(project)
    assert cpp_patches.patch_project(project)
    assert _texts(project) == before


@pytest.mark.parametrize("steps", [-1, 0, 1, 2, 3, 10])
def test_refractory_test_is_unchanged(steps):
    """The rewritten test's arithmetic gives Brian2's answer, also next to the step boundaries.

    The patch's own expression (patches/refractory.cpp), evaluated in Python: it was a copy
    of it written here, which an edit of the patch left passing. The compiled test below runs
    it as C++, and the standalone parity tests check the patched program's spikes."""
    dt = 0.5e-3
    (line,) = [ln for ln in cpp_patches._REFRACTORY_NEW.splitlines() if "not_refractory =" in ln]
    expression = line.split("not_refractory =", 1)[1].rstrip().removesuffix(";")
    expression = expression.replace("\\2", "steps").replace("||", " or ")
    expression = expression.replace("t - lastspike", "x")

    def brian(x):  # _timestep(x, dt) >= steps
        return int((x + 1e-3 * dt) / dt) >= steps

    def patched(x):
        return eval(expression, {}, {"x": x, "dt": dt, "steps": steps})

    for k in range(13):
        for x in (k * dt, k * dt - 1e-9, k * dt + 1e-9, np.nextafter(k * dt, 0.0)):
            if x >= 0:  # t - lastspike is never negative
                assert brian(x) == patched(x), (steps, x)


# Brian2's refractoriness test and the patched file's, compiled as the project is (Brian2's
# _timestep, gcc with bioclf's flags: -O3 -ffast-math -march=native) and compared for the times
# a simulation produces: t and lastspike are whole steps times dt (Brian2's clock), lastspike
# Brian2's initial -10000 s before the first spike.
REFRACTORY_PROGRAM = """#include <cstdint>
#include <cstdio>
%(timestep)s
static int _N;
static double *_ptr_array_exc_lastspike;
static char *_ptr_array_exc_not_refractory;

__attribute__((noinline)) static char patched(double t, double lastspike, double dt, int64_t _lio_1)
{
    char not_refractory;
%(line)s
    return not_refractory;
}

__attribute__((noinline)) static void flags(double t, double dt, int64_t _lio_1)
{
%(flags)s
}

int main()
{
    const double dts[] = {0.5e-3, 0.1e-3, 0.05e-3, 0.01e-3, 1.0/3.0*1e-3};
    const double refs[] = {0.0, 0.3e-4, 0.5e-3, 1e-3, 2e-3, 5e-3, 5.0001e-3, 4.9999e-3};
    static double last[64];
    static char flag[64];
    _ptr_array_exc_lastspike = last;
    _ptr_array_exc_not_refractory = flag;
    long differ = 0, refractory = 0, checked = 0;
    for (double dt : dts)
        for (double ref : refs)
        {
            const int64_t _lio_1 = _timestep(ref, dt);
            for (int64_t step = 0; step < 200000; step += 997)
                for (int64_t back = -1; back < 600; back++)
                {
                    const double t = step * dt;
                    const double lastspike = back < 0 ? -10000.0 : (step - back) * dt;
                    if (back > step) continue;
                    const char brian = _timestep(t - lastspike, dt) >= _lio_1;
                    _N = 64;
                    for (int i = 0; i < 64; i++) last[i] = lastspike;
                    flags(t, dt, _lio_1);
                    checked++;
                    refractory += !brian;
                    if (patched(t, lastspike, dt, _lio_1) != brian) differ++;
                    for (int i = 0; i < 64; i++) differ += flag[i] != brian;
                }
        }
    printf("%%ld %%ld %%ld\\n", checked, refractory, differ);
    return 0;
}
"""


@pytest.mark.standalone
def test_refractory_patch_compiled_gives_brians_answer(tmp_path):
    """The patched file's refractoriness test, both its forms as the patch writes them (the
    update loop's, the flags loop's), compiled with the project's flags, against Brian2's
    ``_timestep(t - lastspike, dt) >= _timestep(t_ref, dt)``, for whole-step times at several
    dt and refractory periods (zero, shorter than a step, a step's fraction off a whole
    number) -- every flag the same."""
    import subprocess

    from brian2.codegen.generators.cpp_generator import timestep_code

    from bioclf.brian import backends

    project = _project(tmp_path)
    assert cpp_patches.patch_project(project)
    updater = (project / "code_objects" / "exc_stateupdater_codeobject.cpp").read_text()
    (line,) = [ln for ln in updater.splitlines() if ln.lstrip().startswith("not_refractory = ")]
    flags = updater[updater.index("    // bioclf: vectorisable refractoriness -- the flags") :]
    flags = flags[: flags.index(";\n", flags.index("_not_refractory[_idx] =")) + 1]
    source = tmp_path / "refractory.cpp"
    source.write_text(
        REFRACTORY_PROGRAM % {"timestep": timestep_code, "line": line, "flags": flags}
    )
    binary = tmp_path / "refractory"
    compiler = shutil.which("g++") or shutil.which("c++")
    subprocess.run([compiler, *backends.gcc_flags(), str(source), "-o", str(binary)], check=True)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    checked, refractory, differ = map(int, out.split())
    assert checked > 10**6 and refractory > 10**4  # both answers occur, near the boundary too
    assert differ == 0


@pytest.mark.parametrize(
    "pathway, consumer, updater",
    [
        # OpenMP projects split the queue between threads: left alone.
        (PATHWAY.replace("_nb_threads = 1;", "_nb_threads = 2;"), CONSUMER, None),
        # A synaptic loop of another form (another Brian2 version): left alone.
        (PATHWAY, CONSUMER.replace("_spiking_synapse_idx++)", "++_spiking_synapse_idx)"), None),
        # A state-update loop of another form: left alone.
        (PATHWAY, CONSUMER, UPDATER.replace("_idx<_N; _idx++", "_idx<_N; ++_idx")),
        # A state updater that does not store the flags, or that changes lastspike.
        (PATHWAY, CONSUMER, UPDATER.replace("_ptr_array_exc_not_refractory[_idx] = not", "x = ")),
        (PATHWAY, CONSUMER, UPDATER.replace("    }\n}", f"{WRITES_LASTSPIKE}    }}\n}}")),
    ],
)
def test_leaves_unknown_code_alone(tmp_path, pathway, consumer, updater):
    project = _project(tmp_path, pathway, consumer, updater or UPDATER)
    before = _texts(project)
    assert not cpp_patches.patch_project(project)
    assert _texts(project) == before


@pytest.mark.parametrize(
    "old, new",
    [
        # a condition that draws random numbers
        ("const double v = _ptr_array_exc_v[_idx];", "const double v = _rand(_vectorisation_idx);"),
        # a condition that reads what another neuron's event changes
        ("_ptr_array_exc_v[_idx];", "_ptr_array_exc_lastspike[0];"),
        # an event that does more than file itself
        ("= _ptr_array_defaultclock_t[0];", "= _ptr_array_defaultclock_t[0] + x;"),
        # a controller of one neuron
        ("N = 400;", "N = 1;"),
        # another form of the loop
        ("_idx<N; _idx++", "_idx<N; ++_idx"),
    ],
)
def test_leaves_other_thresholds_as_brian_wrote_them(tmp_path, old, new):
    """Only the threshold stays unpatched; the rest of the project is patched."""
    assert THRESHOLD.count(old) == 1
    project = _project(tmp_path, threshold=THRESHOLD.replace(old, new))
    assert cpp_patches.patch_project(project)
    code = project / "code_objects"
    assert (
        cpp_patches.THRESHOLD_MARK
        not in (code / "exc_spike_thresholder_codeobject.cpp").read_text()
    )
    assert cpp_patches.QUEUE_MARK in (code / "s_pre_codeobject.cpp").read_text()


INPUT_THRESHOLD = """void _run_inp_spike_thresholder_codeobject()
{
    const int64_t N = 784;
    const int64_t t_in_timesteps = _ptr_array_defaultclock_timestep[0];
    const char _lio_1 = (_brian_mod(t_in_timesteps, slot_steps)) < present_steps;
    const int64_t _lio_2 = _brian_mod(t_in_timesteps, slot_steps);
    long _count = 0;
    for(size_t _idx=0; _idx<N; _idx++)
    {
        const size_t _vectorisation_idx = _idx;
        const int32_t next_step = _ptr_array_inp_next_step[_idx];
        const char _cond = _lio_1 && (_lio_2 == next_step);

        if(_cond) {
            _ptr_array_inp__spikespace[_count++] = _idx;
        }
    }
    _ptr_array_inp__spikespace[N] = _count;
}
"""


def test_threshold_with_a_false_loop_invariant_factor_tests_no_neuron(tmp_path):
    """The input's condition `in the presentation part && due now`: in the rest period its
    loop-invariant factor is false, and no neuron is tested at all."""
    project = _project(tmp_path, threshold=INPUT_THRESHOLD)
    assert cpp_patches.patch_project(project)
    text = (project / "code_objects" / "exc_spike_thresholder_codeobject.cpp").read_text()
    guard, rest = text.split("    else\n", 1)
    assert "if(!_lio_1)" in guard and "_ptr_array_inp__spikespace[N] = 0;" in guard
    assert "_bioclf_m[_idx] = _cond;" in rest and rest.count("}") == rest.count("{") + 1
    assert text.count("{") == text.count("}")
    # a factor computed in the loop is no guard; nor is a condition without such a factor
    inside = INPUT_THRESHOLD.replace("    const char _lio_1 =", "    char _lio_1 =")
    for threshold in (inside, THRESHOLD):
        other = tmp_path / f"other{len(threshold)}"
        other.mkdir()
        project = _project(other, threshold=threshold)
        assert cpp_patches.patch_project(project)
        text = (project / "code_objects" / "exc_spike_thresholder_codeobject.cpp").read_text()
        assert cpp_patches.THRESHOLD_MARK in text and "if(!_lio" not in text


def test_rewritten_files_keep_their_modification_time(tmp_path):
    """Brian2 rewrites the patched files at every build; make must not recompile them."""
    project = _project(tmp_path)
    cpp_patches.patch_project(project)
    consumer = project / "code_objects" / "s_pre_codeobject.cpp"
    snap = cpp_patches.snapshot(project)
    assert consumer in snap
    # What Brian2 does at the next build: the unpatched text again, with a new time.
    consumer.write_text(CONSUMER)
    shutil.copy(BRIAN_QUEUE, project / "brianlib" / "spikequeue.h")
    (project / "synapses_classes.h").write_text(PATHWAY)
    assert cpp_patches.patch_project(project, snap)
    assert consumer.read_text() == snap[consumer][0]
    assert consumer.stat().st_mtime_ns == snap[consumer][1]


def _main(clocks):
    resets = "".join(
        f"        _array_{c}_timestep[0] = 0;\n        _array_{c}_t[0] = 0.0;\n" for c in clocks
    )
    return (
        "int main()\n{\n        _array_s_clock_dt[0] = 0.5;\n        _array_s_clock_dt[0] = 0.5;\n"
        + resets
        + "        network.run(1.0);\n}\n"
    )


def test_main_resets_clocks_in_one_order_whatever_the_set_order(tmp_path):
    """Brian2 writes the clock resets in set order, which changes between processes; sorted,
    main.cpp keeps its text and modification time, and make neither compiles nor links."""
    project = _project(tmp_path)
    main = project / "main.cpp"
    main.write_text(_main(["s_clock", "defaultclock", "inp_new_slot_clock"]))
    assert cpp_patches.patch_project(project)
    first = main.read_text()
    assert first.index("defaultclock_t[0]") < first.index("inp_new_slot_clock_timestep[0]")
    assert first.index("inp_new_slot_clock_t[0]") < first.index("s_clock_timestep[0]")
    assert first.count("_array_s_clock_dt[0] = 0.5;") == 2  # other stores are left as they are
    snap = cpp_patches.snapshot(project)
    main.write_text(_main(["inp_new_slot_clock", "s_clock", "defaultclock"]))  # the next build
    assert cpp_patches.patch_project(project, snap)
    assert main.read_text() == first and main.stat().st_mtime_ns == snap[main][1]
    # with OpenMP the other patches leave the project alone, but not this order
    (project / "synapses_classes.h").write_text(PATHWAY.replace("= 1;", "= 2;"))
    main.write_text(_main(["s_clock", "inp_new_slot_clock", "defaultclock"]))
    assert not cpp_patches.patch_project(project, snap)
    assert main.read_text() == first and main.stat().st_mtime_ns == snap[main][1]


def _cuda_main(clocks):
    adds = "".join(f"        network.add(&{c}, _run_random_number_buffer);\n" for c in clocks)
    return _main(clocks).replace(
        "        network.run", adds + "        network.add(&s_clock, _run_s);\n        network.run"
    )


def _resizes(arrays):
    """brian2cuda's resizes after creating synapses, of `arrays` in this order."""
    return "".join(
        f"        THRUST_CHECK_ERROR(\n                dev_dynamic_array_{a}.resize(newsize)\n"
        f"                );\n        _dynamic_array_{a}.resize(newsize);\n"
        for a in arrays
    )


def _creation(arrays):
    return (
        "const int32_t newsize = _dynamic_array_s__synaptic_pre.size();\n"
        + _resizes(arrays)
        + "CUDA_CHECK_MEMORY();\n_ptr_array_s_N[0] = newsize;\n"
    )


def test_cuda_files_written_in_a_sets_order_keep_one_text(tmp_path):
    """brian2cuda writes main.cu's clock resets and random-number buffers, and the resizes of
    two variables of one name (two pathways' delays), in the order of a set, which changes
    between processes: sorted, the files keep their text and modification times, and make
    compiles nothing again."""
    (tmp_path / "code_objects").mkdir()
    main = tmp_path / "main.cu"
    creation = tmp_path / "code_objects" / "s_synapses_create_array_codeobject.cu"
    other = tmp_path / "code_objects" / "s_pre_codeobject.cu"
    clocks = ["s_clock", "defaultclock", "inp_new_slot_clock"]
    arrays = ["s__synaptic_post", "s__synaptic_pre", "s_delay_1", "s_delay", "s_w"]
    main.write_text(_cuda_main(clocks))
    creation.write_text(_creation(arrays))
    other.write_text("__global__ void kernel() {}\n")
    cpp_patches.patch_cuda_project(tmp_path)
    first = {path: path.read_text() for path in (main, creation)}
    text = first[main]
    assert cpp_patches.CLOCKS_MARK in text and cpp_patches.BUFFERS_MARK in text
    adds = [line.split("&")[1].split(",")[0] for line in text.splitlines() if "_buffer);" in line]
    assert adds == sorted(clocks)
    assert text.index("defaultclock_t[0]") < text.index("inp_new_slot_clock_timestep[0]")
    assert text.endswith("        network.add(&s_clock, _run_s);\n        network.run(1.0);\n}\n")
    text = first[creation]
    assert cpp_patches.RESIZES_MARK in text
    resized = [
        line.split("array_")[1].split(".")[0] for line in text.splitlines() if "dev_" in line
    ]
    assert resized == sorted(arrays) and text.count("_dynamic_array_s_delay.resize") == 2
    assert text.endswith("CUDA_CHECK_MEMORY();\n_ptr_array_s_N[0] = newsize;\n")
    assert other.read_text() == "__global__ void kernel() {}\n"  # nothing of the kind: alone
    snap = cpp_patches.snapshot(tmp_path)
    assert set(snap) == {main, creation}
    # the next build, in another process: other set orders, the files written anew
    main.write_text(_cuda_main(clocks[::-1]))
    creation.write_text(_creation(arrays[::-1]))
    cpp_patches.patch_cuda_project(tmp_path, snap)
    for path, text in first.items():
        assert path.read_text() == text and path.stat().st_mtime_ns == snap[path][1]
    # a changed network is written, with its own time
    creation.write_text(_creation([*arrays, "s_x"]))
    cpp_patches.patch_cuda_project(tmp_path, snap)
    assert "s_x" in creation.read_text() and creation.stat().st_mtime_ns != snap[creation][1]


def test_monitors_record_their_variables_in_name_order():
    """Brian2 keeps a monitor's recorded variables as a set; brian2cuda's template writes
    them in its order, which changes with each process's string hash seed."""
    from brian2 import EventMonitor, Network, NeuronGroup, SpikeMonitor, defaultclock

    from bioclf.brian import backends

    group = NeuronGroup(2, "dv/dt = -v/(10*ms) : 1\nw : 1\nx : 1", threshold="v > 1")
    spikes = SpikeMonitor(group, variables=["x", "w", "v"])
    events = EventMonitor(group, "spike", variables=["w"])
    net = Network(group, spikes, events)
    backends.record_in_name_order(net)
    assert list(spikes.template_kwds["record_variables"]) == ["i", "t", "v", "w", "x"]
    assert list(events.template_kwds["record_variables"]) == ["i", "t", "w"]
    group.v = [2, 0]
    group.w = [3, 4]
    net.run(defaultclock.dt, namespace={})  # and the monitors record as before
    assert list(spikes.i) == [0] and list(spikes.w) == [3] and list(events.w) == [3]


def test_objects_of_a_patched_build_go_when_the_project_is_left_alone(tmp_path):
    """E.g. one thread, then OpenMP in the same project: no object may keep the patched queue."""
    project = _project(tmp_path)
    assert cpp_patches.patch_project(project)
    obj = project / "code_objects" / "s_pre_codeobject.o"
    obj.write_bytes(b"compiled against the patched queue")
    shutil.copy(BRIAN_QUEUE, project / "brianlib" / "spikequeue.h")
    (project / "synapses_classes.h").write_text(PATHWAY.replace("= 1;", "= 2;"))
    assert not cpp_patches.patch_project(project)
    assert not obj.exists()
    assert not list(project.glob(".bioclf_*"))


def test_scheduler_compares_one_clock_and_keeps_its_set_of_clocks(tmp_path):
    """Most steps run the default clock alone: the patched scheduler tests each object's
    clock by a comparison there, and rebuilds its set of current clocks only when it changes;
    with several clocks due it tests the set, as before."""
    project = _project(tmp_path)
    network = project / "network.cpp"
    network.write_text(BRIAN_NETWORK.read_text())
    assert cpp_patches.patch_project(project)
    text = network.read_text()
    assert cpp_patches.SCHEDULER_MARK in text
    assert "bioclf_one_clock ? obj_clock == clock\n" in text
    assert ": curclocks.find(obj_clock) != curclocks.end())" in text
    rebuild = text[text.index("bioclf_same && bioclf_equal == curclocks.size()") :]
    assert rebuild.index("curclocks.clear();") < rebuild.index("curclocks.insert(clock);")
    assert text.count("{") == text.count("}")
    before = _texts(project)
    assert cpp_patches.patch_project(project)
    assert _texts(project) == before
    # A scheduler of another form works as Brian2 wrote it; the other patches still apply.
    other = BRIAN_NETWORK.read_text().replace("curclocks.clear();", "curclocks.erase(0);")
    (tmp_path / "other").mkdir()
    project = _project(tmp_path / "other")
    (project / "network.cpp").write_text(other)
    assert cpp_patches.patch_project(project)
    assert (project / "network.cpp").read_text() == other
    assert cpp_patches.QUEUE_MARK in (project / "brianlib" / "spikequeue.h").read_text()


# Delays (in steps of dt) per source, chosen for the ranges the patched queue files: one range
# of 40 synapses (longer than the 16 a range is written with at once), two of 20, two of
# exactly 16 and one of 8, ranges of 3, ranges of 1, and a scattered pattern.
DELAY_STEPS = (
    "int(i == 0) * 6"
    " + int(i == 1) * (j // 20) * 3"
    " + int(i == 2) * (j // 16)"
    " + int(i == 3) * ((j // 3) % 4)"
    " + int(i == 4) * (j % 7)"
    " + int(i == 5) * ((j * 7919) % 21)"
)


def _delivery_run(backend, build_dir):
    """Each synapse adds its weight to its target once per presynaptic spike, at its delay;
    two runs, so that spikes still in flight at the end of the first one cross into the
    second (the queue files them again as single indices)."""
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, StateMonitor, Synapses, ms

    from bioclf.brian import backends

    directory = backends.activate(
        backends.Backend(backend, build_dir=build_dir), "delays", 0.5 * ms
    )
    # Source 1 spikes in two consecutive steps. The spikes at 4.5 ms are in flight at 5 ms,
    # the end of the first run; in the second, a step (5 ms) holds both those synapses and
    # a long range (source 1 again, a range of 20 synapses), others only short ranges.
    indices = [0, 1, 1, 2, 3, 4, 5, 0, 2, 5, 1, 3]
    times = [0.5, 1.0, 1.5, 1.0, 2.0, 2.5, 3.0, 4.5, 4.5, 4.5, 5.0, 7.0] * ms
    sources = SpikeGeneratorGroup(6, indices, times, name="src")
    targets = NeuronGroup(40, "v : 1\nu : 1\nz : 1", name="tgt")
    syn = Synapses(
        sources,
        targets,
        "w : 1\nn : 1\nt_last : second",
        on_pre="v_post += w\nn += 1\nt_last = t",
        name="syn",
    )
    syn.connect()  # synapses in the order (i, j): consecutive synapses share delays
    syn.delay = f"({DELAY_STEPS}) * 0.5*ms"
    syn.w = "1 + (i * 40 + j) % 13"  # integers: every order of additions gives the same sums
    # Two pathways with one delay for all synapses (Brian2's scalar-delay queue, which files
    # single indices): all at 4 steps, and all without delay.
    same = Synapses(sources, targets, "w : 1", on_pre="u_post += w", delay=2 * ms, name="same")
    same.connect()
    same.w = "1 + (i * 7 + j) % 5"
    zero = Synapses(sources, targets, "w : 1", on_pre="z_post += w", name="zero")
    zero.connect("j % 3 != 0")
    zero.w = "1 + (i + j) % 3"
    monitor = StateMonitor(targets, ["v", "u", "z"], record=True, name="mon")
    net = Network(sources, targets, syn, same, zero, monitor)
    net.run(5 * ms)
    net.run(10 * ms)
    if directory is not None:
        backends.build(backends.Backend(backend, build_dir=build_dir), directory, run=True)
    traces = np.stack([monitor.v[:], monitor.u[:], monitor.z[:]])
    return traces, syn.n[:].copy(), (syn.t_last[:] / ms).copy(), directory


@pytest.mark.standalone
def test_patched_queue_delivers_each_synapse_at_its_delay(tmp_path):
    """The patched project (ranges of synapses, listed or processed range by range) delivers
    the same synapses at the same steps as Brian2's runtime device; so do pathways whose
    synapses all share one delay (zero, or 4 steps), which Brian2's queue files apart."""
    v_rt, n_rt, t_rt, _ = _delivery_run("runtime", tmp_path)
    v_cpp, n_cpp, t_cpp, directory = _delivery_run("cpp", tmp_path)
    assert cpp_patches.QUEUE_MARK in (directory / "brianlib" / "spikequeue.h").read_text()
    assert (
        cpp_patches.QUEUE_MARK
        in (directory / "code_objects" / "syn_pre_codeobject.cpp").read_text()
    )
    assert n_rt.sum() == 12 * 40  # every spike reached all 40 targets
    np.testing.assert_array_equal(n_cpp, n_rt)
    np.testing.assert_array_equal(t_cpp, t_rt)
    np.testing.assert_array_equal(v_cpp, v_rt)
    for name in ("same", "zero"):  # (their code reads the patched queue's single indices)
        code = (directory / "code_objects" / f"{name}_pre_codeobject.cpp").read_text()
        assert cpp_patches.QUEUE_MARK in code
    # The pathways with one delay delivered every spike (the last, at 7 ms, before 15 ms).
    spikes = np.bincount([0, 1, 1, 2, 3, 4, 5, 0, 2, 5, 1, 3], minlength=6)[:, None]
    i, j = np.arange(6)[:, None], np.arange(40)[None, :]
    np.testing.assert_array_equal(v_rt[1, :, -1], (spikes * (1 + (i * 7 + j) % 5)).sum(0))
    np.testing.assert_array_equal(
        v_rt[2, :, -1], (spikes * (1 + (i + j) % 3) * (j % 3 != 0)).sum(0)
    )


RESETTER = """void _run_inp_spike_resetter_codeobject()
{
    const int32_t *_events = _ptr_array_inp__spikespace;
    const int32_t _num_events = _ptr_array_inp__spikespace[N];
    for(int32_t _index_events=0; _index_events<_num_events; _index_events++)
    {
        const size_t _idx = _events[_index_events];
        int32_t next_step = _ptr_array_inp_next_step[_idx];
        next_step += 7;
        _ptr_array_inp_next_step[_idx] = next_step;
    }
}
"""
NEW_SLOT = """void _run_inp_new_slot_codeobject()
{
    for(int _idx=0; _idx<_N; _idx++)
        _ptr_array_inp_next_step[_idx] = _idx % 3;
}
"""
MAIN = """#include "objects.h"

int main(int argc, char **argv)
{
        network.run(0.5, NULL, 10.0);
        network.run(1.0, NULL, 10.0);
}
"""


def _input_project(tmp_path, resetter=RESETTER, main=MAIN):
    project = _project(tmp_path)
    code = project / "code_objects"
    (code / "inp_spike_thresholder_codeobject.cpp").write_text(INPUT_THRESHOLD)
    (code / "inp_spike_resetter_codeobject.cpp").write_text(resetter)
    (code / "inp_new_slot_codeobject.cpp").write_text(NEW_SLOT)
    (project / "main.cpp").write_text(main)
    return project


@pytest.mark.parametrize("network", ["network", "network_1"])
def test_calendar_threshold_and_the_flag_of_every_writer(tmp_path, network):
    """`guard && (key == next_step)`: a calendar of the neurons by their next_step; the code
    that writes next_step for other neurons than the events (and main.cpp before each run)
    tells it to file them all again. (Brian2 names the network ``network_1`` where objects of
    a network built earlier in the process are still alive.)"""
    project = _input_project(tmp_path, main=MAIN.replace("network.run(", f"{network}.run("))
    assert cpp_patches.patch_project(project)
    code = project / "code_objects"
    text = (code / "inp_spike_thresholder_codeobject.cpp").read_text()
    flag = "bioclf_calendar_stale_inp_spike_thresholder_codeobject"
    assert cpp_patches.CALENDAR_MARK in text and cpp_patches.THRESHOLD_MARK not in text
    assert f"bool {flag} = true;" in text and "const int64_t _bioclf_key = _lio_2;" in text
    assert "if(!_lio_1)" in text and text.count("{") == text.count("}")
    new_slot = (code / "inp_new_slot_codeobject.cpp").read_text()
    assert f"extern bool {flag};" in new_slot
    assert f"{{\n    {flag} = true;" in new_slot  # first thing the function does
    main = (project / "main.cpp").read_text()
    assert main.count(f"{flag} = true;") == 2 and f"extern bool {flag};" in main
    assert main.index(f"{flag} = true;") < main.index(f"{network}.run(0.5")
    # the reset writes the events' own values: it needs no flag
    assert flag not in (code / "inp_spike_resetter_codeobject.cpp").read_text()
    # the other thresholds keep their two passes
    exc = (code / "exc_spike_thresholder_codeobject.cpp").read_text()
    assert cpp_patches.THRESHOLD_MARK in exc and cpp_patches.CALENDAR_MARK not in exc


@pytest.mark.parametrize(
    "resetter,main",
    [
        # the reset writes another neuron's value
        (RESETTER.replace("next_step[_idx] = next", "next_step[_idx + 1] = next"), MAIN),
        # ... or changes it in place
        (RESETTER.replace("next_step[_idx] = next_step;", "next_step[_idx] += 1;"), MAIN),
        # a main.cpp whose runs are not found
        (RESETTER, MAIN.replace("network.run(", "net.run(")),
    ],
)
def test_calendar_refused_where_writers_are_unknown(tmp_path, resetter, main):
    """The input threshold then keeps the two passes."""
    project = _input_project(tmp_path, resetter, main)
    assert cpp_patches.patch_project(project)
    code = project / "code_objects"
    text = (code / "inp_spike_thresholder_codeobject.cpp").read_text()
    assert cpp_patches.THRESHOLD_MARK in text and cpp_patches.CALENDAR_MARK not in text
    assert "bioclf_calendar" not in (code / "inp_new_slot_codeobject.cpp").read_text()


def _calendar_run(backend, build_dir):
    """Two groups whose neurons fire at the step of their next_step (that step's key being
    small in one group, beyond the calendar's files in the other), changed by the reset, by
    an operation every 50 steps and by values set between two runs."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, ms

    from bioclf.brian import backends

    directory = backends.activate(
        backends.Backend(backend, build_dir=build_dir), "calendar", 1 * ms
    )
    groups, monitors = [], []
    for base in (0, 70000):
        group = NeuronGroup(
            40,
            "next_step : integer\nk : integer",
            threshold="t_in_timesteps % 50 < 40 and t_in_timesteps % 50 + base == next_step",
            reset="k += 1\nnext_step = base + t_in_timesteps % 50 + 1 + (i * 7 + k * 3) % 11",
            namespace={"base": base},
            name=f"g{base}",
        )
        group.next_step = f"{base} + i % 45"
        group.run_regularly(
            "next_step = base + (i * 5 + t_in_timesteps // 50) % 45", dt=50 * ms, when="start"
        )
        groups.append(group)
        monitors.append(SpikeMonitor(group, name=f"m{base}"))
    net = Network(*groups, *monitors)
    net.run(120 * ms)
    for group, base in zip(groups, (0, 70000), strict=True):
        group.next_step = base + 21 + (np.arange(40) * 3) % 19  # steps 121-139
    net.run(200 * ms)
    if directory is not None:
        backends.build(backends.Backend(backend, build_dir=build_dir), directory, run=True)
    spikes = [(np.asarray(m.i[:]).copy(), np.asarray(m.t[:] / ms).copy()) for m in monitors]
    return spikes, directory


@pytest.mark.standalone
def test_calendar_threshold_fires_as_brian2_does(tmp_path):
    """The calendar threshold gives the runtime device's spikes, in the same order."""
    rt, _ = _calendar_run("runtime", tmp_path)
    cpp, directory = _calendar_run("cpp", tmp_path)
    for base in (0, 70000):
        for run in ("", "_1"):  # the code objects of each run
            name = f"g{base}_spike_thresholder_codeobject{run}.cpp"
            assert cpp_patches.CALENDAR_MARK in (directory / "code_objects" / name).read_text()
    for (i_rt, t_rt), (i_cpp, t_cpp) in zip(rt, cpp, strict=True):
        assert len(i_rt) > 200 and len(np.unique(t_rt)) > 100
        assert ((t_rt > 120) & (t_rt < 150)).sum() >= 40  # the values set between the runs
        np.testing.assert_array_equal(t_cpp, t_rt)
        np.testing.assert_array_equal(i_cpp, i_rt)
