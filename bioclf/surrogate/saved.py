"""Saved surrogate-gradient networks: building a network from its options, ``model.pt``
files, and the files of a run directory (atomic writes, the progress log).

Training (`bioclf.surrogate.train`) writes what this module reads; evaluation and the Brian2
export load through it. It imports neither of them.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch
from torch import nn

from bioclf import tasks
from bioclf.equations import load_neuron, model_content
from bioclf.errors import ResultFileError, options_of_result
from bioclf.io import atomic, digest
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.networks import build_network
from bioclf.surrogate.options import TrainConfig, config_from_dict, cuda_numerics, resolve_device

#: What a training checkpoint (``checkpoint.pt``) holds besides the run's identity; a model
#: file holds neither the optimiser state nor the epoch (a file without them is no checkpoint).
CHECKPOINT_KEYS = {"config", "model", "optimizer", "epoch", "history", "wall_seconds"}


def neuron_id(path: str | Path) -> str:
    """Digest of the neuron model in `path` (content only: not its location or comments)."""
    return digest(model_content(load_neuron(path)))


def build(cfg: TrainConfig) -> nn.Module:
    """The network of `cfg`, initialised from ``cfg.seed``."""
    neuron = compile_neuron(cfg.neuron, cfg.dt) if cfg.spiking else None
    torch.manual_seed(cfg.seed)
    return build_network(cfg.arch, neuron, spiking=cfg.spiking, **cfg.network_kwargs())


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file renamed over `path`: never a partial file."""
    with atomic(path) as tmp:
        torch.save(obj, tmp)


class Log:
    """Progress lines on stderr and in ``DIR/train.log``."""

    def __init__(self, path: Path | None):
        self.path = path

    def __call__(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def load_model(path: str | Path, device: str | None = None) -> tuple[nn.Module, TrainConfig]:
    """The network (in eval mode) and configuration saved in ``model.pt``.

    `device` ('auto', 'cpu' or 'cuda'; `bioclf.surrogate.options.resolve_device`) overrides
    the ``device`` option saved with the model, which says where the network goes.
    """
    net, cfg, _ = load_saved(path, device)
    return net, cfg


def load_saved(path: str | Path, device: str | None = None) -> tuple[nn.Module, TrainConfig, dict]:
    """`load_model`, plus the whole saved dict (history, wall time, neuron files).

    Raises
    ------
    ResultFileError
        No such file; the file is not a model file (another task's output, or the training's
        checkpoint), is truncated, or its weights do not fit the network its configuration
        describes; a field of its saved configuration is refused (the device it names is not
        here, say); or the neuron file changed since training.
    ConfigError
        `device` (the command line's) is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(path, "no such model file")
    try:
        saved = torch.load(path, weights_only=False, map_location="cpu")
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise ResultFileError(
            path,
            "not a model file written by bioclf.surrogate.train, or truncated "
            f"({str(exc).split('. ')[0]})",
        ) from None
    if not isinstance(saved, dict) or not {"config", "model"} <= set(saved):
        raise ResultFileError(
            path, "not a model file written by bioclf.surrogate.train (no 'config' and 'model')"
        )
    if CHECKPOINT_KEYS <= set(saved):
        raise ResultFileError(path, _checkpoint_not_model(path, saved))
    with options_of_result(path):  # (a training wrote them; `device`: the command line's)
        cfg = config_from_dict(saved["config"], str(path))
        if device is not None:
            cfg.device = device
        where = resolve_device(cfg.device, "(command line)" if device is not None else str(path))
    # The weights were trained on one neuron model: refuse to run them on another (the neuron
    # file edited since training). Model files written before model_id was saved are not checked.
    trained_id = saved.get("model_id")
    if trained_id is not None and neuron_id(cfg.neuron) != trained_id:
        raise ResultFileError(
            path,
            f"the model in {cfg.neuron} has changed since this network was trained on it; "
            "retrain, or restore the file (the trained text is saved under 'neuron_files' "
            "in this model file)",
            "neuron",
        )
    net = build(cfg)
    try:
        net.load_state_dict(saved["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:  # other shapes, names, not a dict
        first = str(exc).strip().splitlines()
        raise ResultFileError(
            path,
            "its weights do not fit the network its 'config' describes (a damaged or edited "
            f"model file?): {first[-1].strip() if first else type(exc).__name__}",
        ) from None
    net.to(where)
    cuda_numerics(where)  # (as in training: float32 convolutions on a GPU)
    net.eval()
    return net, cfg, saved


def _checkpoint_not_model(path: Path, ckpt: dict) -> str:
    """Why the checkpoint `ckpt` at `path` is refused where a model file is expected: its
    weights are those of an unfinished training, or of a finished one whose ``model.pt`` (the
    file that records how it ended: history, device, neuron files) is the one to pass."""
    epochs = (ckpt.get("config") or {}).get("epochs", "?")
    done, batch = ckpt.get("epoch"), ckpt.get("batch") or 0
    model = path.with_name("model.pt")
    if batch or done != epochs:
        where = f"in epoch {done + 1} after batch {batch}" if batch else f"after epoch {done}"
        return (
            f"a checkpoint of an unfinished training ({where} of {epochs}), not a model file: "
            f"rerun the training (it resumes from here) and pass the {model} it writes at the end"
        )
    passes = tasks.counted(epochs, "epoch")
    return f"the checkpoint of a finished training ({passes}), not its model file: pass {model}"
