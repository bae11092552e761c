"""The images a surrogate-gradient run trains, validates and tests on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf.data import SPLIT_FILES, images_as_float, load_split, subset_index
from bioclf.errors import ConfigError, DataError
from bioclf.surrogate.options import TrainConfig


def load_data(cfg: TrainConfig, split: str):
    """Images (float, in [0, 1]), labels and their indices in the split, subset if configured.

    `split` is ``"train"`` (the training images less the validation ones), ``"validation"``
    (the last ``cfg.validation`` training images) or ``"test"``.
    """
    which = "test" if split == "test" else "train"
    ds = load_split(cfg.data, which, **cfg.data_set())
    if not len(ds):  # (nothing to train on or to score: every metric would divide by zero)
        images = Path(cfg.data) / SPLIT_FILES[which][0]
        gz = images.with_name(images.name + ".gz")
        raise DataError(gz if gz.is_file() else images, "holds no images")
    pool = np.arange(len(ds))
    if split != "test" and cfg.validation:
        if cfg.validation >= len(ds):
            raise ConfigError(
                "(command line)",
                "validation",
                f"holds out {cfg.validation} of the {len(ds)} training images: none left to "
                "train on",
            )
        cut = len(ds) - cfg.validation
        pool = pool[cut:] if split == "validation" else pool[:cut]
    n = min({"train": cfg.train_subset, "test": cfg.test_subset}.get(split, 0), len(pool))
    if n:  # exactly n, each class in proportion to its share of the pool, in file order
        pool = pool[subset_index(ds.labels[pool], n, cfg.seed, stratified=True, proportional=True)]
    return images_as_float(ds)[pool], ds.labels[pool], pool
