// One clock per step in Brian2's scheduler (network.cpp).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// find: a step of one clock tests each object's clock by comparison, not in the set
        for(size_t i=0; i<objects.size(); i++)
        {
            if (report_func)
//// replace
        // bioclf: one clock per step (most steps run only the default clock)
        const bool bioclf_one_clock = curclocks.size() == 1;
        for(size_t i=0; i<objects.size(); i++)
        {
            if (report_func)
//// find
            if (curclocks.find(obj_clock) != curclocks.end())
//// replace
            if (bioclf_one_clock ? obj_clock == clock
                                 : curclocks.find(obj_clock) != curclocks.end())
//// find: the set of current clocks is rebuilt only when it changes
    // find set of equal clocks
    curclocks.clear();

    double t = minclock->t[0];
//// replace
    // find set of equal clocks
    double t = minclock->t[0];
    // bioclf: one clock per step -- the set (a tree, one allocation per clock) is rebuilt
    // only when its clocks change
    size_t bioclf_equal = 0;
    bool bioclf_same = true;
    for(std::set<BaseClock*>::iterator i=clocks.begin(); i!=clocks.end(); i++)
    {
        const double s = (*i)->t[0];
        if(s==t || fabs(s-t)<=Clock_epsilon)
        {
            bioclf_equal++;
            bioclf_same = bioclf_same && curclocks.count(*i) == 1;
        }
    }
    if(bioclf_same && bioclf_equal == curclocks.size())
        return minclock;
    curclocks.clear();
