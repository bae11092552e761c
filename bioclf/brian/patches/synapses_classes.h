// Ranges of synapses, one-thread synaptic pathway (synapses_classes.h).
// Blocks of C++ text read by bioclf/brian/cpp_patches.py. Each block starts after a line
// "//// <kind>" and ends before the next such line; the newline just before that line is
// not part of the block (a block that ends with a newline is followed by an empty line).
//// when: the pathway is one-thread
	   _nb_threads = 1;

//// find: the pathway's peek
	vector<int32_t>* peek()

//// replace
	// bioclf: ranges of synapses (one thread): the lists, without peek's copy
	vector<int32_t>* bioclf_peek_single() { return queue[0]->bioclf_peek_single(); }
	vector<int32_t>* bioclf_peek_ranges() { return queue[0]->bioclf_peek_ranges(); }
	vector<int32_t>* peek()

