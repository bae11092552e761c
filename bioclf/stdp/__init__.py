"""Unsupervised STDP classifier of Diehl & Cook (2015), trained in compiled Brian2 runs."""
