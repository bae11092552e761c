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
