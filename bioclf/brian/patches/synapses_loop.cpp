// Ranges of synapses: the loop of a synaptic code object. Brian2's loop body (the code of one
// synapse) becomes a lambda called from the loops below; `replace` is a re.sub template
// (\g<path>: the pathway, \g<gap>: the blank lines Brian2 put before the loop), `after`
// replaces the braces that closed Brian2's loop.
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// replace: the loop over the synapses due, up to Brian2's loop body
    // bioclf: ranges of synapses, processed in the order they were filed (the single
    // indices first). Where the step's ranges are short on average (e.g. ~5 synapses in the
    // STDP network at N=100), a loop per range would end in a mispredicted branch about once
    // per range: the synapses are listed first (a range of up to 16 with one fixed-length
    // store) and processed in one loop. Longer ranges are processed range by range.
    std::vector<int> *_spiking_synapses = \g<path>.bioclf_peek_single();
    const std::vector<int32_t> &_bioclf_ranges = *\g<path>.bioclf_peek_ranges();
    const int _bioclf_num_single = _spiking_synapses->size();
    const int _bioclf_num_ranges = static_cast<int>(_bioclf_ranges.size()) / 2;
    const int32_t *const _bioclf_single = _spiking_synapses->data();
\g<gap>    // the code of one synapse (Brian2's loop body)
    auto _bioclf_synapse = [&](const size_t _idx) __attribute__((always_inline))
    {
//// after: the loops that call it
    };
    int _num_spiking_synapses = _bioclf_num_single;
    for(int _bioclf_r=0; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
        _num_spiking_synapses += _bioclf_ranges[2*_bioclf_r + 1] - _bioclf_ranges[2*_bioclf_r];
    // single indices only, or ranges of more than 12 synapses on average: nothing to list
    const int _bioclf_in_ranges = _num_spiking_synapses - _bioclf_num_single;
    if(_bioclf_num_ranges == 0 || _bioclf_in_ranges > 12*_bioclf_num_ranges)
    {
        for(int _bioclf_k=0; _bioclf_k<_bioclf_num_single; _bioclf_k++)
            _bioclf_synapse(_bioclf_single[_bioclf_k]);
        for(int _bioclf_r=0; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
            for(int32_t _bioclf_s=_bioclf_ranges[2*_bioclf_r];
                _bioclf_s<_bioclf_ranges[2*_bioclf_r + 1];
                _bioclf_s++)
                _bioclf_synapse(_bioclf_s);
    }
    else
    {
        static std::vector<int32_t> _bioclf_list_store;
        if(static_cast<int>(_bioclf_list_store.size()) < _num_spiking_synapses + 16)
            _bioclf_list_store.resize(2*(_num_spiking_synapses + 16));
        int32_t *const _bioclf_list = _bioclf_list_store.data();
        for(int _bioclf_k=0; _bioclf_k<_bioclf_num_single; _bioclf_k++)
            _bioclf_list[_bioclf_k] = _bioclf_single[_bioclf_k];
        int32_t *_bioclf_out = _bioclf_list + _bioclf_num_single;
        typedef int32_t _bioclf_v16 __attribute__((vector_size(64)));
        const _bioclf_v16 _bioclf_iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        for(int _bioclf_r=0; _bioclf_r<_bioclf_num_ranges; _bioclf_r++)
        {
            const int32_t _bioclf_first = _bioclf_ranges[2*_bioclf_r];
            const int32_t _bioclf_len = _bioclf_ranges[2*_bioclf_r + 1] - _bioclf_first;
            // (the range's first cache line of each array the code reads per synapse)
            if(_bioclf_len <= 16)
            {
                // one vector store, written out: gcc left the 16-element loop as 16 scalar
                // stores on some processors (e.g. Intel Xeon, -march=native)
                const _bioclf_v16 _bioclf_v = _bioclf_first + _bioclf_iota;
                __builtin_memcpy(_bioclf_out, &_bioclf_v, sizeof _bioclf_v);
            }
            else
            {
                for(int _bioclf_k=0; _bioclf_k<_bioclf_len; _bioclf_k++)
                    _bioclf_out[_bioclf_k] = _bioclf_first + _bioclf_k;
            }
            _bioclf_out += _bioclf_len;
        }
        for(int _bioclf_k=0; _bioclf_k<_num_spiking_synapses; _bioclf_k++)
            _bioclf_synapse(_bioclf_list[_bioclf_k]);
    }
//// prefetch: one line per array the code reads per synapse ({array}: its name)
            __builtin_prefetch(&_ptr_array_{array}[_bioclf_first]);
