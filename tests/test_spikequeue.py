"""The spike-queue patch of generated C++ projects (`bioclf.brian.spikequeue`).

Its effect on results (none: bit-identical) is tested by the runtime/cpp parity test in
test_stdp_network.py; these tests check that it refuses code it does not know.
"""

import shutil
from pathlib import Path

import brian2
import pytest

from bioclf.brian import spikequeue

BRIAN_QUEUE = Path(brian2.__file__).parent / "synapses" / "spikequeue.h"

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
            ge_post += w;
        }
    }
    }
}
"""


def _project(tmp_path, pathway=PATHWAY, consumer=CONSUMER):
    (tmp_path / "brianlib").mkdir()
    (tmp_path / "code_objects").mkdir()
    shutil.copy(BRIAN_QUEUE, tmp_path / "brianlib" / "spikequeue.h")
    (tmp_path / "synapses_classes.h").write_text(pathway)
    (tmp_path / "code_objects" / "s_pre_codeobject.cpp").write_text(consumer)
    return tmp_path


def _texts(directory):
    return {p: p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_patches_the_queue_the_pathway_and_the_synaptic_loop(tmp_path):
    project = _project(tmp_path)
    assert spikequeue.patch_project(project)
    patched = ("brianlib/spikequeue.h", "synapses_classes.h", "code_objects/s_pre_codeobject.cpp")
    for name in patched:
        assert spikequeue.MARK in (project / name).read_text(), name
    loop = (project / "code_objects" / "s_pre_codeobject.cpp").read_text()
    assert "s_pre.bioclf_peek_ranges()" in loop and ".peek()" not in loop
    assert loop.count("{") == loop.count("}")
    # Patching again changes nothing.
    before = _texts(project)
    assert spikequeue.patch_project(project)
    assert _texts(project) == before


@pytest.mark.parametrize(
    "pathway, consumer",
    [
        # OpenMP projects split the queue between threads: left alone.
        (PATHWAY.replace("_nb_threads = 1;", "_nb_threads = 2;"), CONSUMER),
        # A synaptic loop of another form (another Brian2 version): left alone.
        (PATHWAY, CONSUMER.replace("_spiking_synapse_idx++)", "++_spiking_synapse_idx)")),
    ],
)
def test_leaves_unknown_code_alone(tmp_path, pathway, consumer):
    project = _project(tmp_path, pathway, consumer)
    before = _texts(project)
    assert not spikequeue.patch_project(project)
    assert _texts(project) == before


def test_rewritten_files_keep_their_modification_time(tmp_path):
    """Brian2 rewrites the patched files at every build; make must not recompile them."""
    project = _project(tmp_path)
    spikequeue.patch_project(project)
    consumer = project / "code_objects" / "s_pre_codeobject.cpp"
    snap = spikequeue.snapshot(project)
    assert consumer in snap
    # What Brian2 does at the next build: the unpatched text again, with a new time.
    consumer.write_text(CONSUMER)
    shutil.copy(BRIAN_QUEUE, project / "brianlib" / "spikequeue.h")
    (project / "synapses_classes.h").write_text(PATHWAY)
    assert spikequeue.patch_project(project, snap)
    assert consumer.read_text() == snap[consumer][0]
    assert consumer.stat().st_mtime_ns == snap[consumer][1]
