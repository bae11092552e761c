"""Train a surrogate-gradient spiking classifier on MNIST, resumably.

Usage::

    python -m bioclf.surrogate.train --arch fc --hidden 100 --epochs 10 --out results/sg_fc100
    python -m bioclf.surrogate.train --config my_options.yaml --out DIR

Every option can come from a YAML file (``--config``: a flat mapping whose keys are the option
names with underscores, e.g. ``hidden: 400``; not the pipeline's ``config/config.yaml``) and be
overridden on the command line. A checkpoint is written atomically after
every epoch (``DIR/checkpoint.pt``); rerunning the same command after an interruption continues
from the last completed epoch and gives the same final weights as an uninterrupted run: batch
order, input spikes (counter-based, `bioclf.encoding`) and the learning-rate schedule are all
functions of (seed, epoch), and the optimiser state is checkpointed. (Bit-identical with the
same number of threads: the thread count changes the summation order of matrix products.)

Outputs in DIR: ``model.pt`` (weights, configuration and the neuron files as trained; a
model whose neuron file has changed since is refused by evaluation and export),
``metrics.json`` (test metrics, see `bioclf.surrogate.evaluate`, plus training history and
wall time), ``confusion.npy``, ``confusion.csv`` and ``train.log`` (the progress lines, also
printed on stderr).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from bioclf.data import images_as_float, load_split
from bioclf.encoding import ENCODINGS
from bioclf.equations import load_neuron, model_content, model_files
from bioclf.errors import BioclfError, ConfigError
from bioclf.io import digest, set_aside
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.evaluate import evaluate, predict, spike_input
from bioclf.surrogate.functional.surrogate import SURROGATES
from bioclf.surrogate.networks import ARCHS, build_network

#: How this module trains. Bumped whenever a change to the code alters the results of the same
#: options, neuron file, seed and data, so that checkpoints written by older code are set aside
#: rather than resumed. Checkpoints written before the key existed count as version 1.
VERSION = 1

# Options that may change between an interrupted run and its resumption.
_RESUMABLE = {"threads", "log_every", "out", "eval_batch_size", "test"}


@dataclass
class TrainConfig:
    """Options of a training run (see ``--help``)."""

    arch: str = "fc"
    hidden: int = 100
    channels: tuple[int, int] = (16, 32)
    stride1: int = 1
    conv_hidden: int = 0  # conv: spiking FC layer between the conv stack and the output (0: none)
    epochs: int = 10
    T: int = 25
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    augment_shift: int = 0  # training images shifted by up to this many pixels (0: off)
    seed: int = 0
    dt: float = 5e-3  # s; with lif.yaml: membrane decay exp(-dt/tau_m) = 0.951 per step
    max_rate: float = 200.0  # Hz; max_rate * dt = 1: a pixel of intensity x fires with p = x
    encoding: str = "rate"  # input code: rate, or latency (one spike per pixel, brighter earlier)
    neuron: str = "equations/lif.yaml"
    surrogate: str = "fast_sigmoid"
    slope: float | None = None
    data: str = "data/mnist"
    train_subset: int = 0
    test_subset: int = 0
    # Training images held out for choosing options without the test set: the last `validation`
    # of the training split (10000: images 50,000-59,999, as bench/stdp_validate.py), scored
    # after every epoch and never trained on.
    validation: int = 0
    threads: int = 2
    log_every: int = 50
    eval_batch_size: int = 500
    test: bool = True  # evaluate on the test set after training (false: leave it to `evaluate`)
    out: str = ""

    def check(self, source: str = "(command line)", sources: dict | None = None) -> None:
        """Refuse bad values, naming the option and where it came from (``sources[name]``,
        else ``source``)."""

        def bad(name, reason):
            raise ConfigError((sources or {}).get(name, source), name, reason)

        if self.arch not in ARCHS:
            bad("arch", f"must be one of {ARCHS}, got {self.arch!r}")
        for name in ("hidden", "epochs", "T", "batch_size", "threads", "log_every"):
            if int(getattr(self, name)) < 1:
                bad(name, f"must be a positive integer, got {getattr(self, name)!r}")
        if self.lr <= 0:
            bad("lr", f"must be positive, got {self.lr}")
        if self.lr_schedule not in ("cosine", "constant"):
            bad("lr_schedule", f"must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.dt <= 0:
            bad("dt", f"must be a positive time in seconds, got {self.dt}")
        if not 0 < self.max_rate * self.dt <= 1:
            bad("max_rate", f"max_rate * dt = {self.max_rate * self.dt:g} must lie in (0, 1]")
        if self.encoding not in ENCODINGS:
            bad("encoding", f"must be one of {ENCODINGS}, got {self.encoding!r}")
        if int(self.validation) < 0:
            bad("validation", f"must be a non-negative integer, got {self.validation!r}")
        if int(self.conv_hidden) < 0:
            bad("conv_hidden", f"must be a non-negative integer, got {self.conv_hidden!r}")
        if not 0 <= int(self.augment_shift) <= 8:
            bad("augment_shift", f"must be an integer in [0, 8], got {self.augment_shift!r}")
        if self.surrogate not in SURROGATES:
            bad("surrogate", f"must be one of {SURROGATES}, got {self.surrogate!r}")
        if self.slope is not None and not self.slope > 0:
            bad("slope", f"must be positive (the surrogate's steepness), got {self.slope}")
        if self.stride1 not in (1, 2):
            bad("stride1", f"must be 1 or 2, got {self.stride1}")
        if len(self.channels) != 2 or min(self.channels) < 1:
            bad("channels", f"must be two positive integers, got {self.channels!r}")
        if not Path(self.neuron).is_file():
            bad("neuron", f"no such equation file: {self.neuron}")

    def network_kwargs(self) -> dict:
        kw = {"surrogate": self.surrogate, "slope": self.slope}
        if self.arch == "fc":
            kw["hidden"] = self.hidden
        else:
            kw["channels"] = tuple(self.channels)
            kw["stride1"] = self.stride1
            kw["hidden"] = self.conv_hidden
        return kw


def neuron_id(path: str | Path) -> str:
    """Digest of the neuron model in `path` (content only: not its location or comments)."""
    return digest(model_content(load_neuron(path)))


def build(cfg: TrainConfig) -> nn.Module:
    """The network of `cfg`, initialised from ``cfg.seed``."""
    neuron = compile_neuron(cfg.neuron, cfg.dt)
    torch.manual_seed(cfg.seed)
    return build_network(cfg.arch, neuron, **cfg.network_kwargs())


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))


def shift_images(x01: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each 28x28 image by a random whole number of pixels in [-max_shift, max_shift]
    along each axis, filling with 0 (data augmentation; the labels stay valid)."""
    if max_shift <= 0:
        return x01
    n = len(x01)
    side = int(round(np.sqrt(x01.shape[1])))
    padded = np.pad(x01.reshape(n, side, side), ((0, 0), (max_shift, max_shift), (max_shift,) * 2))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None] + np.arange(side)[None, :]
    cols = dx[:, None] + np.arange(side)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, side * side)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Log:
    """Progress lines on stderr and in ``DIR/train.log``."""

    def __init__(self, path: Path | None):
        self.path = path

    def __call__(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")


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


def train(cfg: TrainConfig, log: Log | None = None, stop_after: int | None = None) -> dict:
    """Train (resuming from ``cfg.out/checkpoint.pt`` if present) and evaluate.

    Parameters
    ----------
    stop_after : int, optional
        Return after this many epochs of this call without finishing (simulates an
        interruption, for tests).

    Returns
    -------
    dict
        The metrics written to ``metrics.json`` (or ``{'interrupted': epoch}``).
    """
    cfg.check()
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or Log(out / "train.log")
    net = build(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path = out / "checkpoint.pt"
    start_epoch, history, wall = 0, [], 0.0
    config_dict = asdict(cfg)
    # A checkpoint is resumed only by the run that wrote it: same options (those in _RESUMABLE
    # aside) and the same neuron model (its file's location and comments aside). One written by
    # another run -- an equation file edited or an option changed since, as when the pipeline
    # reruns a finished job -- is moved aside, and training starts over.
    model_id = neuron_id(cfg.neuron)  # (build() compiled it; only its content is needed here)
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        # Options added after a checkpoint was written take their defaults.
        saved = {**asdict(TrainConfig()), **ckpt["config"]}
        saved = {k: v for k, v in saved.items() if k not in _RESUMABLE}
        now = {k: v for k, v in config_dict.items() if k not in _RESUMABLE}
        changed = sorted(k for k in now if saved.get(k) != now[k])
        if ckpt.get("model_id") != model_id:
            changed.append(f"the model in {cfg.neuron}")
        if ckpt.get("code_version", 1) != VERSION:
            changed.append("the training code version")
        if changed:
            stale = set_aside(ckpt_path)
            log(
                f"{ckpt_path} was written by another run ({', '.join(changed)} differ); "
                f"moved to {stale.name}, starting over"
            )
    if ckpt_path.exists():
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, history, wall = ckpt["epoch"], ckpt["history"], ckpt["wall_seconds"]
        log(f"resuming from {ckpt_path} after epoch {start_epoch}")

    x_train, y_train, idx_train = load_data(cfg, "train")
    n = len(y_train)
    n_batches = math.ceil(n / cfg.batch_size)
    log(
        f"training {cfg.arch} ({sum(p.numel() for p in net.parameters())} parameters) on {n} "
        f"samples, {cfg.encoding} code, T={cfg.T}, dt={cfg.dt * 1e3:g} ms, neuron {cfg.neuron}, "
        f"{cfg.threads} threads"
    )
    if cfg.validation:
        x_val, y_val, idx_val = load_data(cfg, "validation")
        log(f"validation: training images {idx_val[0]}-{idx_val[-1]}, not trained on")
    loss_fn = nn.CrossEntropyLoss()
    done_now = 0
    for epoch in range(start_epoch, cfg.epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, epoch)
        net.train()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        t0 = time.perf_counter()
        loss_sum = correct = seen = 0
        for b in range(n_batches):
            sel = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            images = shift_images(
                x_train[sel], cfg.augment_shift, np.random.default_rng([cfg.seed, epoch, b])
            )
            x = spike_input(images, idx_train[sel], config_dict, "train", epoch=epoch)
            y = torch.from_numpy(y_train[sel].astype(np.int64))
            counts = net(x).sum(0)
            loss = loss_fn(counts, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(sel)
            correct += int((predict(counts.detach()) == y).sum())
            seen += len(sel)
            if (b + 1) % cfg.log_every == 0 or b + 1 == n_batches:
                rate = seen / (time.perf_counter() - t0)
                log(
                    f"epoch {epoch + 1}/{cfg.epochs} batch {b + 1}/{n_batches} "
                    f"loss {loss_sum / seen:.4f} acc {correct / seen:.4f} "
                    f"{rate:.0f} samples/s"
                )
        epoch_seconds = time.perf_counter() - t0
        wall += epoch_seconds
        record = {
            "epoch": epoch + 1,
            "lr": lr_at(cfg, epoch),
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "samples_per_second": seen / epoch_seconds,
            "seconds": epoch_seconds,
        }
        if cfg.validation:
            # Spike streams keyed as training presentations of these images (never made).
            val = evaluate(
                net,
                x_val,
                y_val,
                config_dict,
                indices=idx_val,
                split="train",
                batch_size=cfg.eval_batch_size,
            )
            record["val_accuracy"] = val["accuracy"]
            log(f"epoch {epoch + 1} validation accuracy {val['accuracy']:.4f} on {len(y_val)}")
        history.append(record)
        _atomic_save(
            {
                "config": config_dict,
                "model_id": model_id,
                "code_version": VERSION,
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "history": history,
                "wall_seconds": wall,
            },
            ckpt_path,
        )
        log(f"epoch {epoch + 1} done in {epoch_seconds:.0f} s; checkpoint {ckpt_path}")
        done_now += 1
        if stop_after is not None and done_now >= stop_after and epoch + 1 < cfg.epochs:
            return {"interrupted": epoch + 1}

    _atomic_save(
        {
            "config": config_dict,
            "model": net.state_dict(),
            "model_id": model_id,
            # The neuron files as trained (the file and those it extends), for the record.
            "neuron_files": {str(f): f.read_text() for f in model_files(cfg.neuron)},
            "history": history,
            "wall_seconds": wall,
        },
        out / "model.pt",
    )
    if not cfg.test:
        log(f"trained; model in {out / 'model.pt'}")
        return {"trained": cfg.epochs}
    return test_model(out / "model.pt", out, log=log)


def test_model(model_path: str | Path, out: str | Path, log: Log | None = None) -> dict:
    """Evaluate a saved model on the test set; write ``metrics.json``, confusion and predictions.

    The metrics carry the training history and wall time saved with the model, so they hold
    everything the comparison report needs.
    """
    model_path, out = Path(model_path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or Log(out / "test.log")
    net, cfg, saved = _load_saved(model_path)
    torch.set_num_threads(cfg.threads)
    config_dict = asdict(cfg)
    x_test, y_test, idx_test = load_data(cfg, "test")
    log(f"evaluating {model_path} on {len(y_test)} test samples")
    metrics = evaluate(
        net,
        x_test,
        y_test,
        config_dict,
        indices=idx_test,
        split="test",
        batch_size=cfg.eval_batch_size,
    )
    confusion = np.asarray(metrics["confusion"], dtype=np.int64)
    wall = saved.get("wall_seconds", float("nan"))
    metrics.update(
        {
            "simulator": "pytorch",
            "config": config_dict,
            "history": saved.get("history", []),
            "training_wall_seconds": wall,
            "validation_accuracy": (saved.get("history") or [{}])[-1].get("val_accuracy"),
            "neuron_file": str(cfg.neuron),
            "neuron_files": saved.get("neuron_files", {}),
        }
    )
    np.save(out / "confusion.npy", confusion)
    np.savetxt(out / "confusion.csv", confusion, fmt="%d", delimiter=",")
    slim = {k: v for k, v in metrics.items() if k != "predictions"}
    (out / "metrics.json").write_text(json.dumps(slim, indent=2))
    np.save(out / "predictions.npy", np.asarray(metrics["predictions"], dtype=np.int64))
    log(
        f"test accuracy {metrics['accuracy']:.4f} on {metrics['n_samples']} samples; "
        f"training wall time {wall:.0f} s"
    )
    return slim


def load_model(path: str | Path) -> tuple[nn.Module, TrainConfig]:
    """The network and configuration saved in ``model.pt``."""
    net, cfg, _ = _load_saved(path)
    return net, cfg


def _load_saved(path: str | Path) -> tuple[nn.Module, TrainConfig, dict]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "model", "no such model file")
    saved = torch.load(path, weights_only=False)
    cfg = config_from_dict(saved["config"], str(path))
    # The weights were trained on one neuron model: refuse to run them on another (the neuron
    # file edited since training). Model files written before model_id was saved are not checked.
    trained_id = saved.get("model_id")
    if trained_id is not None and neuron_id(cfg.neuron) != trained_id:
        raise ConfigError(
            path,
            "neuron",
            f"the model in {cfg.neuron} has changed since this network was trained on it; "
            "retrain, or restore the file (the trained text is saved under 'neuron_files' "
            "in this model file)",
        )
    net = build(cfg)
    net.load_state_dict(saved["model"])
    net.eval()
    return net, cfg, saved


def config_from_dict(values: dict, source: str) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(source, unknown[0], f"unknown option (known: {sorted(known)})")
    defaults = TrainConfig()
    values = {
        name: _typed(name, value, getattr(defaults, name), source) for name, value in values.items()
    }
    return TrainConfig(**values)


def _typed(name: str, value, default, source: str):
    """``value`` as the type of the option's default, or a `ConfigError` naming the option.

    YAML files need this: PyYAML reads ``lr: 1e-3`` as a string (no decimal point).
    """
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else _boolean(str(value))
        if isinstance(default, int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)  # exact for large ints (seeds); "12" from a file too
        if isinstance(default, float) or name == "slope":  # slope: float, None for the default
            if value is None:
                return None
            if not math.isfinite(float(value)):
                raise ValueError
            return float(value)
        if isinstance(default, tuple):
            return tuple(_typed(name, v, default[0], source) for v in value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        kind = type(default).__name__ if default is not None else "float"
        raise ConfigError(source, name, f"expected {kind}, got {value!r}") from None


def _boolean(text: str) -> bool:
    # A typo ("--test flase") must not silently mean False.
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.lower() not in value:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value[text.lower()]


def parse_args(argv=None) -> TrainConfig:
    parser = argparse.ArgumentParser(
        prog="python -m bioclf.surrogate.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", help="YAML file of options (keys as below)")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.name == "channels":
            parser.add_argument(flag, type=int, nargs=2, default=None, help=f"default {default}")
        elif f.name == "encoding":
            parser.add_argument(
                flag,
                choices=ENCODINGS,
                help="input code: rate (a Bernoulli spike train per pixel) or latency (one "
                "spike per pixel, brighter pixels earlier in the T steps); default 'rate'",
            )
        elif isinstance(default, bool):
            parser.add_argument(flag, type=_boolean, metavar="{true,false}")
        else:
            kind = type(default) if default is not None else float
            parser.add_argument(flag, type=kind, default=None, help=f"default {default!r}")
    args = parser.parse_args(argv)
    values: dict = {}
    sources: dict = {}  # where each option's value came from, for error messages
    if args.config:
        try:
            loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(args.config, "(file)", str(exc)) from None
        if not isinstance(loaded, dict):
            raise ConfigError(args.config, "(top level)", "must be a mapping of options")
        values.update(loaded)
        sources.update(dict.fromkeys(loaded, args.config))
    for f in fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            values[f.name] = value
            sources[f.name] = "(command line)"
    cfg = config_from_dict(values, args.config or "(command line)")
    cfg.check(sources=sources)
    if not cfg.out:
        raise ConfigError(args.config or "(command line)", "out", "an output directory is needed")
    return cfg


def main(argv=None) -> int:
    # Large tensors on transparent huge pages where the kernel grants them on request (THP
    # "madvise" mode): fewer page faults on the big per-batch arrays, about 10% faster conv
    # training on these machines. PyTorch reads this once, at its first allocation.
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    try:
        cfg = parse_args(argv)
        train(cfg)
    except BioclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
