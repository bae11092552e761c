"""The images a surrogate-gradient run trains, validates and tests on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf.data import SPLIT_FILES, images_as_float, load_split, subset_index
from bioclf.errors import ConfigError, DataError
from bioclf.surrogate.options import TrainConfig, source_of


def load_data(
    cfg: TrainConfig, split: str, source: str = "(command line)", sources: dict | None = None
):
    """Images (float, in [0, 1]), labels and their indices in the split, subset if configured.

    `split` is ``"train"`` (the training images less the validation ones), ``"validation"``
    (the last ``cfg.validation`` training images) or ``"test"``. ``sources[name]``, else
    `source`, says where option ``name`` of `cfg` came from, for the errors naming it (as
    `TrainConfig.check`).

    Raises
    ------
    ConfigError
        ``validation`` holds out every training image, or ``train_subset`` / ``test_subset``
        asks for more images than there are (after the validation hold-out).
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
                source_of("validation", sources, source),
                "validation",
                f"holds out {cfg.validation} of the {len(ds)} training images: none left to "
                "train on",
            )
        cut = len(ds) - cfg.validation
        pool = pool[cut:] if split == "validation" else pool[:cut]
    n = _subset_size(cfg, split, len(pool), len(ds), source, sources)
    if n:  # exactly n, each class in proportion to its share of the pool, in file order
        pool = pool[subset_index(ds.labels[pool], n, cfg.seed, stratified=True, proportional=True)]
    return images_as_float(ds)[pool], ds.labels[pool], pool


def _subset_size(
    cfg: TrainConfig, split: str, available: int, total: int, source: str, sources: dict | None
) -> int:
    """The configured subset size of `split` (0: all `available` images), refused where it asks
    for more than there are (as the STDP side refuses its sample counts): a silently smaller
    subset would train or score on fewer images than the options and metrics say."""
    name = {"train": "train_subset", "test": "test_subset"}.get(split)
    n = int(getattr(cfg, name)) if name else 0
    if n > available:
        images = "training" if split == "train" else "test"
        there = (
            f"{available} are left of the {total} in {cfg.data} after the {cfg.validation} "
            "held out by validation"
            if available < total
            else f"the data set in {cfg.data} has {total}"
        )
        raise ConfigError(
            source_of(name, sources, source), name, f"asks for {n} {images} images; {there}"
        )
    return n
