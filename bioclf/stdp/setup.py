"""STDP run settings from the validated configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from bioclf import config as cfgmod
from bioclf.brian.backends import Backend
from bioclf.data import FloatImages, load_configured
from bioclf.equations.spec import model_content
from bioclf.errors import THE_CONFIGURATION, ConfigError
from bioclf.io import digest
from bioclf.stdp.protocol import Models, Protocol


def protocol(cfg: dict) -> Protocol:
    proto = cfg["stdp"]["protocol"]
    kwargs = {}
    for key in ("dt", "present", "rest", "max_rate"):
        if key in proto:
            kwargs[key] = cfgmod.quantity(cfg, "stdp", "protocol", key)
    for key in ("base_intensity", "max_intensity"):
        if key in proto:
            kwargs[key] = float(proto[key])
    if "min_spikes" in proto:
        kwargs["min_spikes"] = int(proto["min_spikes"])
    kwargs["reset_between_samples"] = bool(proto.get("reset_between_samples", False))
    if "encoding" in proto:
        kwargs["encoding"] = str(proto["encoding"])
    return Protocol(**kwargs)


def models(cfg: dict) -> Models:
    return Models.load(cfg["stdp"]["models"])


def schedule(
    cfg: dict, n_exc: int, epochs: int, where: str = THE_CONFIGURATION, field: str = "--epochs"
) -> list[tuple[dict[str, str], int]]:
    """The training phases of `epochs` epochs at size `n_exc`: (model files, epochs) in order.

    The ``schedule`` of the size in ``stdp.sizes`` (if any) gives the first epochs other files;
    the epochs left use ``stdp.models``.

    Raises
    ------
    ConfigError
        Naming `where` and `field`, if the schedule leaves no epoch to ``stdp.models``.
    """
    base = cfg["stdp"]["models"]
    size = next((s for s in cfg["stdp"]["sizes"] if s["n"] == n_exc), {})
    phases = [({**base, **p["models"]}, p["epochs"]) for p in size.get("schedule", [])]
    scheduled = sum(e for _, e in phases)
    if scheduled >= epochs:
        raise ConfigError(
            where,
            field,
            f"the schedule of N={n_exc} covers {scheduled} of the {epochs} epochs; at least the "
            "last one trains with stdp.models, the files that label assignment and testing use",
        )
    return [*phases, (dict(base), epochs - scheduled)]


def trained_identity(models: Models, proto: Protocol) -> dict:
    """Digests of the models' content (not of their files' locations or comments) by role
    (``stdp.models.exc``), and of the protocol's timing and rates: what a trained network
    records (``train_metrics.json``) and label assignment and testing check
    (`frozen.check_trained_with`); its build directory is named after them too (`backend`)."""
    return {
        "models": {
            f"stdp.models.{f.name}": digest(model_content(getattr(models, f.name)))
            for f in dataclasses.fields(models)
        },
        "stdp.protocol": digest(repr(proto)),
    }


def backend(cfg: dict, name: str | None, n_exc: int, seed: int, models: Models) -> Backend:
    """The backend of a run of size `n_exc` and `seed` with `models`, its build directory named
    after them and after the protocol, so that runs of other model files never share (and
    rebuild under each other) a compiled project, even at the same time (the chunk size, which
    sets the project's arrays, too)."""
    name = name or cfg["stdp"]["backend"]
    p = protocol(cfg)
    identity = trained_identity(models, p)
    key = digest(
        *identity["models"].values(),
        identity["stdp.protocol"],
        p.encoding,
        p.reset_between_samples,
        cfg["stdp"]["chunk"],
    )
    root = Path(cfg.get("build", "build")) if name == "runtime" else cfgmod.build_folder(cfg)
    build = root / "stdp" / name / f"n{n_exc}_seed{seed}_{key[:8]}"
    return Backend(name=name, threads=int(cfg["stdp"].get("threads", 1)), build_dir=build)


def data(cfg: dict, split: str, n: int, field: str) -> tuple[FloatImages, np.ndarray]:
    """The first `n` samples of a split (file order, as in the original): images as floats
    (`FloatImages`: float32 in [0, 1], converted from the pixels chunk by chunk as the network
    reads them) and labels.

    `field` names where `n` came from (``stdp.n_test or --n-test``), for the error raised when
    the split has fewer samples.
    """
    ds = load_configured(cfg["data"], split)
    if n > len(ds):
        raise ConfigError(
            THE_CONFIGURATION, field, f"asks for {n} {split} samples; the data set has {len(ds)}"
        )
    pixels = ds.images.reshape(len(ds), -1)
    if n < len(ds):  # a copy, so that the rest of the split is freed
        pixels = pixels[:n].copy()
    return FloatImages(pixels), np.asarray(ds.labels[:n])
