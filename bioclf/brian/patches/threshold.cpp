// Thresholds in two passes: the loop of a threshold (or event) code object (placeholders,
// filled in by cpp_patches._patch_threshold: \g<body> computes _cond, \g<block> files one
// event, re-indented, \g<space> is the event array).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// replace: the loop over the neurons
    // bioclf: threshold in two passes (bioclf.brian.cpp_patches)
    static std::vector<unsigned char> _bioclf_mask;
    if(_bioclf_mask.size() < (size_t)N + 64)
        _bioclf_mask.resize((size_t)N + 64, 0);  // the padding stays 0
    unsigned char* __restrict _bioclf_m = _bioclf_mask.data();
    #pragma GCC ivdep
    for(size_t _idx=0; _idx<N; _idx++)
    {
        const size_t _vectorisation_idx = _idx;
\g<body>
        _bioclf_m[_idx] = _cond;
    }
    long _count = 0;
    for(size_t _bioclf_b=0; _bioclf_b<(size_t)N; _bioclf_b+=64)
    {
        uint64_t _bioclf_w[8];
        __builtin_memcpy(_bioclf_w, _bioclf_m + _bioclf_b, 64);
        if(!(_bioclf_w[0] | _bioclf_w[1] | _bioclf_w[2] | _bioclf_w[3] |
             _bioclf_w[4] | _bioclf_w[5] | _bioclf_w[6] | _bioclf_w[7]))
            continue;  // no event among these 64 neurons
        for(size_t _bioclf_j=0; _bioclf_j<8; _bioclf_j++)
        {
            // the set bytes of 8 neurons, lowest index first (the lowest byte: little-endian)
            static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian only");
            for(uint64_t _bioclf_word=_bioclf_w[_bioclf_j]; _bioclf_word; )
            {
                const int _bioclf_bit = __builtin_ctzll(_bioclf_word) & ~7;
                _bioclf_word &= ~(0xFFull << _bioclf_bit);
                const size_t _idx = _bioclf_b + 8*_bioclf_j + (_bioclf_bit >> 3);
                {
\g<block>
                }
            }
        }
    }
    \g<space>[N] = _count;
//// calendar: a condition `guard && (key == var)` (placeholders filled in by cpp_patches._patch_calendar: \g<guard> and \g<key> are Brian2's loop-invariant factors, \g<var> the integer array, \g<space> the event array, \g<flag> the flag that writers of the array set)
    // bioclf: calendar threshold (bioclf.brian.cpp_patches)
    if(!\g<guard>)
        \g<space>[N] = 0;  // no neuron's condition can hold
    else
    {
        // The neurons filed under their value of the array: a step's events are the neurons
        // filed under its key, checked, in index order. Filed anew whole after any other code
        // wrote the array (it sets the flag); the events of the previous call, the only
        // neurons whose values the reset since then changed, filed singly.
        static std::vector< std::vector<int32_t> > _bioclf_files;
        static std::vector<int32_t> _bioclf_far;  // values outside [0, _bioclf_limit)
        static std::vector<int32_t> _bioclf_last;  // the previous call's events
        static std::vector<int32_t> _bioclf_due;
        const int64_t _bioclf_limit = 65536;
        if(_bioclf_far.size() > (size_t)(2*N))
            \g<flag> = true;  // (only stale entries make it grow so)
        auto _bioclf_file = [&](const int32_t _i)
        {
            const int64_t _v = \g<var>[_i];
            if(_v < 0 || _v >= _bioclf_limit)
                _bioclf_far.push_back(_i);
            else
            {
                if((size_t)_v >= _bioclf_files.size())
                    _bioclf_files.resize(_v + 1);
                _bioclf_files[_v].push_back(_i);
            }
        };
        if(\g<flag>)
        {
            for(size_t _v=0; _v<_bioclf_files.size(); _v++)
                _bioclf_files[_v].clear();
            _bioclf_far.clear();
            for(int32_t _i=0; _i<(int32_t)N; _i++)
                _bioclf_file(_i);
            \g<flag> = false;
        }
        else
        {
            for(size_t _k=0; _k<_bioclf_last.size(); _k++)
                _bioclf_file(_bioclf_last[_k]);
        }
        _bioclf_last.clear();
        const int64_t _bioclf_key = \g<key>;
        _bioclf_due.clear();
        if(_bioclf_key >= 0 && (size_t)_bioclf_key < _bioclf_files.size())
        {
            _bioclf_due.swap(_bioclf_files[_bioclf_key]);  // (the file is empty now)
        }
        for(size_t _k=0; _k<_bioclf_far.size(); _k++)
            if((int64_t)\g<var>[_bioclf_far[_k]] == _bioclf_key)
                _bioclf_due.push_back(_bioclf_far[_k]);
        // in index order, each neuron once (a stale entry is refused by the check below)
        std::sort(_bioclf_due.begin(), _bioclf_due.end());
        long _count = 0;
        for(size_t _k=0; _k<_bioclf_due.size(); _k++)
        {
            const int32_t _i = _bioclf_due[_k];
            if((_k > 0 && _bioclf_due[_k - 1] == _i) || (int64_t)\g<var>[_i] != _bioclf_key)
                continue;
            \g<space>[_count++] = _i;
            _bioclf_last.push_back(_i);
        }
        \g<space>[N] = _count;
    }
