// Vectorisable refractoriness in state updaters (\1: indentation, \2: refractory steps,
// {group}: the group, {steps}: refractory steps).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// replace: the refractoriness test (a re.sub template)
\1// bioclf: vectorisable refractoriness (bioclf.brian.cpp_patches)
\1not_refractory = (\2 <= 0) || ((t - lastspike + 1e-3*dt)/dt >= \2);
//// flags: the not_refractory flags, after the update loop
    // bioclf: vectorisable refractoriness -- the flags, in a loop of their own
    #pragma GCC ivdep
    for(int _idx=0; _idx<_N; _idx++)
        _ptr_array_{group}_not_refractory[_idx] = ({steps} <= 0) ||
            ((t - _ptr_array_{group}_lastspike[_idx] + 1e-3*dt)/dt >= {steps});

