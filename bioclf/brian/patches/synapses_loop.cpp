// Ranges of synapses: the loop of a synaptic code object (a re.sub template:
// \g<path> is the pathway, \g<gap> the blank lines Brian2 put before the loop).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// replace: the loop over the synapses due
    // bioclf: ranges of synapses, written out as one list of indices. Each range of up to
    // 16 synapses is written with one fixed-length store, without a loop whose length the
    // processor cannot predict; the synapses are then processed in one loop, in the order
    // the ranges were filed (the single indices first).
    std::vector<int> *_spiking_synapses = \g<path>.bioclf_peek_single();
    const std::vector<int32_t> &_bioclf_ranges = *\g<path>.bioclf_peek_ranges();
    const int _bioclf_num_single = _spiking_synapses->size();
    const int _bioclf_num_ranges = static_cast<int>(_bioclf_ranges.size()) / 2;
    const int32_t *_bioclf_due = _spiking_synapses->data();
    int _num_spiking_synapses = _bioclf_num_single;
    if(_bioclf_num_ranges > 0)
    {
        static std::vector<int32_t> _bioclf_flat;
        int _bioclf_total = _bioclf_num_single;
        for(int _bioclf_r=0; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
            _bioclf_total += _bioclf_ranges[2*_bioclf_r + 1] - _bioclf_ranges[2*_bioclf_r];
        if(static_cast<int>(_bioclf_flat.size()) < _bioclf_total + 16)
            _bioclf_flat.resize(2*(_bioclf_total + 16));
        int32_t *_bioclf_out = _bioclf_flat.data();
        for(int _bioclf_k=0; _bioclf_k<_bioclf_num_single; _bioclf_k++)
            _bioclf_out[_bioclf_k] = _bioclf_due[_bioclf_k];
        _bioclf_out += _bioclf_num_single;
        for(int _bioclf_r=0; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
        {
            const int32_t _bioclf_first = _bioclf_ranges[2*_bioclf_r];
            const int32_t _bioclf_len = _bioclf_ranges[2*_bioclf_r + 1] - _bioclf_first;
            // (the range's first cache line of each array the loop reads per synapse)
            if(_bioclf_len <= 16)
            {
                for(int _bioclf_k=0; _bioclf_k<16; _bioclf_k++)
                    _bioclf_out[_bioclf_k] = _bioclf_first + _bioclf_k;
            }
            else
            {
                for(int _bioclf_k=0; _bioclf_k<_bioclf_len; _bioclf_k++)
                    _bioclf_out[_bioclf_k] = _bioclf_first + _bioclf_k;
            }
            _bioclf_out += _bioclf_len;
        }
        _bioclf_due = _bioclf_flat.data();
        _num_spiking_synapses = _bioclf_total;
    }
\g<gap>    {
        for(int _spiking_synapse_idx=0;
            _spiking_synapse_idx<_num_spiking_synapses;
            _spiking_synapse_idx++)
        {
            const size_t _idx = _bioclf_due[_spiking_synapse_idx];
//// prefetch: one line per array the loop reads per synapse ({array}: its name)
            __builtin_prefetch(&_ptr_array_{array}[_bioclf_first]);
