// Ranges of synapses in Brian2's spike queue (brianlib/spikequeue.h).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// find: the runs per source neuron and the ranges per queue slot
    vector< vector<int> > synapses;

//// replace
    vector< vector<int> > synapses;
    // bioclf: ranges of synapses. Per source neuron, [delay, first, end) triples of synapse
    // indices that share a delay and are consecutive; per queue slot, [first, end) pairs
    // of the synapses due then, filed after the slot's single indices (`queue`).
    vector< vector<int> > bioclf_runs;
    vector< vector<int32_t> > bioclf_ranges;
    vector<int32_t> bioclf_no_ranges;

    // Append a slot's ranges to its list of single indices (for code that expects the list).
    void bioclf_expand(size_t slot)
    {
        if(slot >= bioclf_ranges.size() || bioclf_ranges[slot].empty())
            return;
        vector<int32_t> &single = queue[slot];
        const vector<int32_t> &ranges = bioclf_ranges[slot];
        for(size_t r=0; r<ranges.size(); r+=2)
            for(int32_t s=ranges[r]; s<ranges[r + 1]; s++)
                single.push_back(s);
        bioclf_ranges[slot].clear();
    }

    inline vector<int32_t>* bioclf_peek_single() { return &queue[offset]; }

    inline vector<int32_t>* bioclf_peek_ranges()
    {
        return offset < (int)bioclf_ranges.size() ? &bioclf_ranges[offset] : &bioclf_no_ranges;
    }

//// find: pending ranges become single indices before the queue is rebuilt
        assert(n_delays == 1 || n_delays == n_synapses);

//// replace
        assert(n_delays == 1 || n_delays == n_synapses);
        for(size_t slot=0; slot<bioclf_ranges.size(); slot++)
            bioclf_expand(slot);

//// find: the runs, found once the delays and synapses are known
        scalar_delay = (min_delay == max_delay);

//// replace
        scalar_delay = (min_delay == max_delay);
        bioclf_ranges.assign(queue.size(), vector<int32_t>());
        // (only delayed pathways use runs: a scalar delay files single indices)
        bioclf_runs.assign(scalar_delay ? 0 : synapses.size(), vector<int>());
        for(size_t src=0; src<bioclf_runs.size(); src++)
        {
            const vector<int> &syn = synapses[src];
            size_t first = 0;
            while(first < syn.size())
            {
                const int delay = delays[syn[first] - openmp_padding];
                size_t end = first + 1;
                while(end < syn.size() && syn[end] == syn[end - 1] + 1
                      && delays[syn[end] - openmp_padding] == delay)
                    end++;
                bioclf_runs[src].push_back(delay);
                bioclf_runs[src].push_back(syn[first]);
                bioclf_runs[src].push_back(syn[first] + static_cast<int>(end - first));
                first = end;
            }
        }

//// find: a spike files one range per run, without a modulo
                for(int idx_indices=0; idx_indices<num_indices; idx_indices++)
                {
                    const int synaptic_index = cur_indices[idx_indices];
                    int delay = rdelays[synaptic_index];
                    queue[(offset+delay)%queue.size()].push_back(synaptic_index);
                }
//// replace
                const int n_queue = static_cast<int>(queue.size());
                const vector<int> &runs = bioclf_runs[idx_neuron];
                for(size_t r=0; r<runs.size(); r+=3)
                {
                    int slot = offset + runs[r];  // offset < n_queue and delay < n_queue
                    if(slot >= n_queue)
                        slot -= n_queue;
                    vector<int32_t> &target = bioclf_ranges[slot];
                    target.push_back(runs[r + 1]);
                    target.push_back(runs[r + 2]);
                }
//// find: code that reads the plain list gets every synapse due
    inline vector<int32_t>* peek()
    {
        return &queue[offset];
//// replace
    inline vector<int32_t>* peek()
    {
        bioclf_expand(offset);
        return &queue[offset];
//// find: a slot's ranges are cleared with its single indices
        queue[offset].clear();

//// replace
        queue[offset].clear();
        if(offset < (int)bioclf_ranges.size())
            bioclf_ranges[offset].clear();

//// find: a queue grown while it holds ranges keeps them in step with the slots
        rotate(queue.begin(), queue.begin()+offset, queue.end());
//// replace
        if(bioclf_ranges.size() == n)
        {
            rotate(bioclf_ranges.begin(), bioclf_ranges.begin()+offset, bioclf_ranges.end());
            bioclf_ranges.resize(newsize);
        }
        rotate(queue.begin(), queue.begin()+offset, queue.end());
//// find: the next slot without an integer division (every pathway, every step)
        offset = (offset+1)%queue.size();
//// replace
        offset = offset + 1 < (int)queue.size() ? offset + 1 : 0;
