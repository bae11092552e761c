"""The images a surrogate-gradient run trains, validates and tests on."""

from __future__ import annotations

import numpy as np

from bioclf.data import images_as_float, load_split
from bioclf.errors import ConfigError
from bioclf.surrogate.options import TrainConfig


def load_data(cfg: TrainConfig, split: str):
    """Images (float, in [0, 1]), labels and their indices in the split, subset if configured.

    `split` is ``"train"`` (the training images less the validation ones), ``"validation"``
    (the last ``cfg.validation`` training images) or ``"test"``.
    """
    ds = load_split(cfg.data, "test" if split == "test" else "train")
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
    n = {"train": cfg.train_subset, "test": cfg.test_subset}.get(split, 0)
    idx = _subset_indices(ds.labels[pool], n, cfg.seed, pool) if n else pool
    return images_as_float(ds)[idx], ds.labels[idx], idx


def _subset_indices(labels: np.ndarray, n: int, seed: int, pool: np.ndarray) -> np.ndarray:
    """Sorted indices (from `pool`) of a class-stratified random subset of about `n` samples;
    `labels` are those of `pool`."""
    n = min(n, len(pool))
    rng = np.random.default_rng(seed)
    per_class = [pool[labels == c] for c in range(10)]
    take = [rng.permutation(idx)[: round(n * len(idx) / len(pool))] for idx in per_class]
    return np.sort(np.concatenate(take))
