"""Data layer: IDX files, MNIST-layout data sets, subsets and verified downloads.

Typical use::

    from bioclf.data import load_split, subset, images_as_float

    test = load_split("data/mnist", "test")  # checksums verified
    small = subset(test, 1000, seed=0, stratified=True)
    x = images_as_float(small)  # float32 (1000, 784) in [0, 1]
"""

from __future__ import annotations

from bioclf.data.datasets import (
    KNOWN_CHECKSUMS,
    MNIST_CHECKSUMS,
    SPLIT_FILES,
    Dataset,
    FloatImages,
    check_configured,
    images_as_float,
    load_configured,
    load_split,
    subset,
    subset_index,
)
from bioclf.data.download import fetch
from bioclf.data.idx import encode_idx, parse_idx, read_idx, read_idx_bytes, write_idx

__all__ = [
    "KNOWN_CHECKSUMS",
    "MNIST_CHECKSUMS",
    "SPLIT_FILES",
    "Dataset",
    "FloatImages",
    "check_configured",
    "encode_idx",
    "fetch",
    "images_as_float",
    "load_configured",
    "load_split",
    "parse_idx",
    "read_idx",
    "read_idx_bytes",
    "subset",
    "subset_index",
    "write_idx",
]
