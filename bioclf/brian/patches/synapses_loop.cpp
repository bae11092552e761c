// Ranges of synapses: the loop of a synaptic code object (a re.sub template:
// \g<path> is the pathway, \g<gap> the blank lines Brian2 put before the loop).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// replace: the loop over the synapses due
    // bioclf: ranges of synapses
    std::vector<int> *_spiking_synapses = \g<path>.bioclf_peek_single();
    const std::vector<int32_t> &_bioclf_ranges = *\g<path>.bioclf_peek_ranges();
    const int _num_spiking_synapses = _spiking_synapses->size();
    const int _bioclf_num_ranges = static_cast<int>(_bioclf_ranges.size()) / 2;
\g<gap>    for(int _bioclf_r=-1; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
    {
        const bool _bioclf_single = _bioclf_r < 0;
        const int _bioclf_first = _bioclf_single ? 0 : _bioclf_ranges[2*_bioclf_r];
        const int _bioclf_end = _bioclf_single ? _num_spiking_synapses
                                               : _bioclf_ranges[2*_bioclf_r + 1];
        for(int _spiking_synapse_idx=_bioclf_first;
            _spiking_synapse_idx<_bioclf_end;
            _spiking_synapse_idx++)
        {
            const size_t _idx = _bioclf_single ? (*_spiking_synapses)[_spiking_synapse_idx]
                                               : _spiking_synapse_idx;

