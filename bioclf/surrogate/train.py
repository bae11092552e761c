"""Train a surrogate-gradient spiking classifier on MNIST or its like (--data), resumably.

Usage::

    python -m bioclf.surrogate.train --arch fc --hidden 100 --epochs 10 --out results/sg_fc100
    python -m bioclf.surrogate.train --config my_options.yaml --out DIR

Every option can come from a YAML file (``--config``: a flat mapping whose keys are the option
names with underscores, e.g. ``hidden: 400``; not the pipeline's ``config/config.yaml``) and be
overridden on the command line. A checkpoint is written atomically (``DIR/checkpoint.pt``)
after every epoch and, within an epoch, after the first batch that ends ``--checkpoint-minutes``
(default 10) or more after the last checkpoint; rerunning the same command after an
interruption continues from the last checkpoint, mid-epoch too, and gives the same weights,
losses and accuracies as an uninterrupted run: batch order, shifts and input spikes
(counter-based, `bioclf.encoding`) are functions of (seed, epoch, batch), the learning-rate
schedule of the epoch, and the checkpoint holds the optimiser state, the position in the epoch
and the epoch's running sums. (Bit-identical with the
same number of threads on the same device: the thread count and the device change the
summation order of matrix products. On CUDA, cuDNN is held to its deterministic convolution
algorithms for this, and to float32 rather than TF32 arithmetic (`options.cuda_numerics`); that
has not yet been checked on a GPU.)

``--device`` (default ``auto``): on a CUDA GPU when PyTorch finds one, the neurons then run as
CUDA kernels generated from the neuron file (`bioclf.surrogate.cuda_kernels`; where nvcc is
missing, as the PyTorch step functions, `bioclf.surrogate.functional.neuron.run_fused`); on
the CPU as C kernels generated from it (`bioclf.surrogate.kernels`). All give the same spikes
(`tests/test_surrogate_train.py`). The options, their defaults and their checks are
`bioclf.surrogate.options.TrainConfig`.

Outputs in DIR: ``model.pt`` (weights, configuration and the neuron files as trained; a
model whose neuron file has changed since is refused by evaluation and export),
``metrics.json`` (test metrics, see `bioclf.surrogate.evaluate`, plus training history and
wall time, and the device), ``confusion.npy``, ``confusion.csv`` and ``train.log`` (the
progress lines, also printed on stderr).
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bioclf import checkpoint, tasks
from bioclf.data.datasets import N_PIXELS
from bioclf.equations import model_files
from bioclf.errors import BioclfError, ConfigError
from bioclf.io import read_yaml, set_aside
from bioclf.surrogate.data import load_data
from bioclf.surrogate.evaluate import (
    evaluate,
    network_input,
    predict,
    progress_lines,
    test_model,
)
from bioclf.surrogate.modules import SpikingNeurons
from bioclf.surrogate.options import (
    TrainConfig,
    add_options,
    config_from_dict,
    cuda_numerics,
    describe_device,
    resolve_device,
    source_of,
)
from bioclf.surrogate.saved import CHECKPOINT_KEYS, Log, atomic_save, build, neuron_id

#: Run again after an interruption, the task resumes from its last checkpoint (`tasks.run`).
RESUMES = True

#: How this module trains. Bumped whenever a change to the code alters the results of the same
#: options, neuron file, seed and data, so that checkpoints written by older code are set aside
#: rather than resumed. Checkpoints written before the key existed count as version 1.
#: 2: ``train_subset`` and ``test_subset`` take exactly that many images (one more or fewer
#: before, where rounding each class's share did not add up).
VERSION = 2

# Options that may change between an interrupted run and its resumption.
# (The device too: like the thread count, it changes results only in the last float bits.)
_RESUMABLE = {
    "threads",
    "log_every",
    "checkpoint_minutes",
    "out",
    "eval_batch_size",
    "test",
    "test_subset",  # (the test images are scored after the training only)
    "device",
}


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


def _read_checkpoint(path: Path, device) -> dict:
    """The checkpoint at `path`; `ValueError` if the file is another kind of torch file (a
    ``model.pt`` copied over it), which `checkpoint.read` then sets aside."""
    ckpt = torch.load(path, weights_only=False, map_location=device)
    if not isinstance(ckpt, dict) or not CHECKPOINT_KEYS <= set(ckpt):
        raise ValueError("not a checkpoint of bioclf.surrogate.train")
    return ckpt


def _misfit(net: nn.Module, state) -> str | None:
    """What keeps the weights `state` of a checkpoint from loading into `net` (a missing or
    extra tensor, another shape), or None where they fit. Checked before loading: a failed
    ``load_state_dict`` leaves the tensors it did copy in the network."""
    own = net.state_dict()
    if not isinstance(state, dict) or set(state) != set(own):
        return "other tensors than the network's"
    for name, tensor in own.items():
        shape = getattr(state[name], "shape", None)
        if shape != tensor.shape:
            return f"{name} has shape {tuple(shape or ())}, the network's {tuple(tensor.shape)}"
    return None


def run_identity(options: dict, model_id: str | None, version: int, neuron: str) -> dict:
    """What identifies a training run, for `bioclf.checkpoint.resumable`.

    A checkpoint is resumed only by the run that wrote it: same options (those in _RESUMABLE
    aside), the same neuron model (its file's location and comments aside) and the same
    training code `VERSION`.
    """
    # Options added after a checkpoint was written take their defaults; paths count by where
    # they lead ('./data/mnist' is 'data/mnist').
    options = {**asdict(TrainConfig()), **options}
    options.update({k: _where(options[k]) for k in ("neuron", "data") if options.get(k)})
    return {
        **{k: options[k] for k in sorted(options) if k not in _RESUMABLE},
        f"the model in {_where(neuron)}": model_id,
        "the training code version": version,
    }


def _where(path: str) -> str:
    """`path` as the identity of a run spells it: relative to the working directory where it
    lies under it (as the pipeline writes it), else absolute."""
    full = Path(path).resolve()
    try:
        return str(full.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(full)


#: Bytes per time step, image and input of a batch's input spikes while they are made: the
#: encoder's bool array and the float32 tensor made from it.
SPIKE_BYTES = 5


def input_spike_bytes(cfg: TrainConfig) -> int:
    """The bytes of one batch's input spikes at their peak, the largest batch the run has
    (training, or evaluation where it validates or tests): a floor of what it needs, the
    network's own states for the backward pass coming on top."""
    batch = max(cfg.batch_size, cfg.eval_batch_size if cfg.validation or cfg.test else 0)
    return SPIKE_BYTES * int(cfg.T) * batch * N_PIXELS


def available_memory() -> int | None:
    """Bytes of memory this process can still have: the kernel's estimate of what is
    available without swapping, less where a control group (a cluster job's) allows less;
    None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # (cgroup v2: this process's group, "0::/PATH")
        own = Path("/proc/self/cgroup").read_text().split("0::", 1)[1].splitlines()[0]
        cgroup = Path("/sys/fs/cgroup") / own.lstrip("/")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError, IndexError):
        pass
    return min(found) if found else None


def check_memory(cfg: TrainConfig, device, sources: dict | None = None) -> None:
    """Refuse a run whose input spikes alone cannot fit in memory (``T`` time steps of the
    largest batch, `input_spike_bytes`; on a GPU its float32 part must fit there too), before
    the run starts: it would work for a long time and then fail for want of memory.

    Raises
    ------
    ConfigError
        Naming ``T`` and where it came from (``sources``).
    """
    if not cfg.spiking:  # (a twin's input is the images, once)
        return
    need = input_spike_bytes(cfg)
    limits = [("memory", available_memory(), need)]
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        limits.append(("GPU memory", free, need * 4 // SPIKE_BYTES))
    batch = need // (SPIKE_BYTES * int(cfg.T) * N_PIXELS)
    for what, have, bytes_needed in limits:
        if have is not None and bytes_needed > have:
            raise ConfigError(
                source_of("T", sources),
                "T",
                f"{cfg.T} time steps of a batch of {batch} images (batch_size, eval_batch_size) "
                f"need {bytes_needed / 2**30:,.1f} GiB for their input spikes alone, more than "
                f"the {have / 2**30:,.1f} GiB of {what} available: lower T or the batch sizes",
            )


def _built(cfg: TrainConfig, device, sources: dict | None) -> nn.Module:
    """``build(cfg)`` on `device`; a network whose weights cannot be allocated (a huge
    ``--hidden``) refused naming its size options, not a PyTorch allocator traceback."""
    try:
        return build(cfg).to(device)
    except Exception as exc:
        if (what := tasks.out_of_memory(exc)) is None:
            raise
        name = "hidden" if cfg.arch == "fc" else "channels"
        sizes = "hidden" if cfg.arch == "fc" else "channels, conv_hidden"
        raise ConfigError(
            source_of(name, sources),
            name,
            f"the network's weights do not fit in memory: lower {sizes} ({what})",
        ) from None


def train(
    cfg: TrainConfig,
    log: Log | None = None,
    stop_after: int | None = None,
    sources: dict | None = None,
) -> dict:
    """Train (resuming from ``cfg.out/checkpoint.pt`` if present) and evaluate.

    Parameters
    ----------
    stop_after : int, optional
        Return after this many epochs of this call without finishing (simulates an
        interruption, for tests).
    sources : dict, optional
        Where each option came from (a YAML file or ``"(command line)"``, the default), for
        the errors naming it.

    Returns
    -------
    dict
        The metrics written to ``metrics.json`` (or ``{'interrupted': epoch}``).
    """
    cfg.check(sources=sources)
    device = resolve_device(cfg.device, source_of("device", sources))
    check_memory(cfg, device, sources)  # (before any file is written)
    torch.set_num_threads(cfg.threads)
    cuda_numerics(device)  # (on CUDA: float32 convolutions, deterministic algorithms)
    # The data first: a bad --data must not set a good checkpoint aside as stale, nor a refused
    # subset leave an empty output directory behind.
    x_train, y_train, idx_train = load_data(cfg, "train", sources=sources)
    if cfg.validation:
        x_val, y_val, idx_val = load_data(cfg, "validation", sources=sources)
    if cfg.test:  # read (and verified) now, not found bad after the training
        load_data(cfg, "test", sources=sources)
    net = _built(cfg, device, sources)  # (a neuron file refused leaves no output directory)
    for module in net.modules():
        if isinstance(module, SpikingNeurons):
            module.neuron.check_presentation(cfg.T)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or Log(out / "train.log")
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path = out / "checkpoint.pt"
    start_epoch, history, wall = 0, [], 0.0
    config_dict = asdict(cfg)
    # (build() compiled it; only its content is needed here; an ANN has no neuron model)
    model_id = neuron_id(cfg.neuron) if cfg.spiking else None
    n = len(y_train)
    n_batches = math.ceil(n / cfg.batch_size)
    start_batch, partial = 0, None  # where in epoch `start_epoch` to go on, and its sums
    if ckpt_path.exists():
        ckpt = checkpoint.read(
            ckpt_path,
            lambda p: _read_checkpoint(p, device),
            (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError),
            log,
        )
    if ckpt_path.exists():
        checkpoint.resumable(
            ckpt_path,
            run_identity(
                ckpt["config"], ckpt.get("model_id"), ckpt.get("code_version", 1), cfg.neuron
            ),
            run_identity(config_dict, model_id, VERSION, cfg.neuron),
            log,
        )
    if ckpt_path.exists() and (misfit := _misfit(net, ckpt["model"])):
        stale = set_aside(ckpt_path)  # (its run, but a damaged or edited file)
        log(f"{ckpt_path} does not fit its network ({misfit}); moved to {stale.name}, "
            "starting over")  # fmt: skip
    if ckpt_path.exists():
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, history, wall = ckpt["epoch"], ckpt["history"], ckpt["wall_seconds"]
        # (checkpoints written before mid-epoch ones existed lack these: an epoch's end)
        start_batch, partial = ckpt.get("batch", 0), ckpt.get("partial")
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"].cpu())
        if ckpt.get("cuda_rng") is not None and device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)
        where = (
            f"in epoch {start_epoch + 1} after batch {start_batch}/{n_batches}"
            if start_batch
            else f"after epoch {start_epoch}"
        )
        log(f"resuming from {ckpt_path} {where}")

    def save_checkpoint(epochs_done: int, batch: int = 0, sums: dict | None = None) -> None:
        """The training state after `epochs_done` epochs and `batch` batches of the next one
        (`sums`: that epoch's running loss, correct count, samples and seconds so far)."""
        atomic_save(
            {
                "config": config_dict,
                "model_id": model_id,
                "code_version": VERSION,
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epochs_done,
                "batch": batch,
                "partial": sums,
                "history": history,
                "wall_seconds": wall,
                # (every random number of the training is a function of seed, epoch and batch;
                # PyTorch's generators are kept too, for a layer that would draw from them)
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            },
            ckpt_path,
        )

    if cfg.spiking:
        inputs = f"{cfg.encoding} code, T={cfg.T}, dt={cfg.dt * 1e3:g} ms, neuron {cfg.neuron}"
    else:  # (a twin reads neither the code options nor the neuron file)
        inputs = "non-spiking twin: analog pixels, ReLU"
    log(
        f"training {cfg.arch} ({sum(p.numel() for p in net.parameters())} parameters) on {n} "
        f"samples, {inputs}, {tasks.counted(cfg.threads, 'thread')}, {describe_device(device, net)}"
    )
    notes = {m.neuron.refractory_note() for m in net.modules() if isinstance(m, SpikingNeurons)}
    for note in sorted(filter(None, notes)):
        log(f"note: {note}")
    if cfg.validation:
        log(f"validation: training images {idx_val[0]}-{idx_val[-1]}, not trained on")
    loss_fn = nn.CrossEntropyLoss()
    done_now = 0
    # a mid-epoch checkpoint once this many seconds have passed since the last checkpoint
    save_every = cfg.checkpoint_minutes * 60
    last_save = time.perf_counter()
    progress = tasks.Progress(
        cfg.epochs * n, start_epoch * n + (partial["seen"] if start_batch else 0)
    )
    for epoch in range(start_epoch, cfg.epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, epoch)
        net.train()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        first = start_batch if epoch == start_epoch else 0
        if first:  # resumed mid-epoch: the sums of the batches before
            loss_sum, correct = partial["loss_sum"], partial["correct"]
            seen, before = partial["seen"], partial["seconds"]
        else:
            loss_sum, correct, seen, before = 0.0, 0, 0, 0.0
        t0, seen0 = time.perf_counter(), seen
        for b in range(first, n_batches):
            sel = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            images = shift_images(
                x_train[sel], cfg.augment_shift, np.random.default_rng([cfg.seed, epoch, b])
            )
            x = network_input(images, idx_train[sel], config_dict, "train", epoch=epoch).to(device)
            y = torch.from_numpy(y_train[sel].astype(np.int64)).to(device)
            counts = net(x).sum(0)
            loss = loss_fn(counts, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(sel)
            correct += int((predict(counts.detach()) == y).sum())
            seen += len(sel)
            now = time.perf_counter()
            if (b + 1) % cfg.log_every == 0 or b + 1 == n_batches:
                rate = (seen - seen0) / (now - t0)
                log(
                    f"epoch {epoch + 1}/{cfg.epochs} batch {b + 1}/{n_batches} "
                    f"loss {loss_sum / seen:.4f} acc {correct / seen:.4f} "
                    f"{rate:.0f} samples/s, {progress(epoch * n + seen)}"
                )
            if save_every and b + 1 < n_batches and now - last_save >= save_every:
                sums = {"loss_sum": loss_sum, "correct": correct, "seen": seen}
                save_checkpoint(epoch, b + 1, {**sums, "seconds": before + now - t0})
                last_save = time.perf_counter()
                log(f"epoch {epoch + 1} batch {b + 1}/{n_batches}: checkpoint {ckpt_path}")
        epoch_seconds = before + time.perf_counter() - t0
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
            label = f"epoch {epoch + 1} validation"
            val = evaluate(
                net,
                x_val,
                y_val,
                config_dict,
                indices=idx_val,
                split="train",
                batch_size=cfg.eval_batch_size,
                progress=progress_lines(log, label, len(y_val)),
            )
            record["val_accuracy"] = val["accuracy"]
            log(f"{label} accuracy {val['accuracy']:.4f} on {len(y_val)}")
        history.append(record)
        save_checkpoint(epoch + 1)
        last_save = time.perf_counter()
        log(f"epoch {epoch + 1} done in {epoch_seconds:.0f} s; checkpoint {ckpt_path}")
        done_now += 1
        if stop_after is not None and done_now >= stop_after and epoch + 1 < cfg.epochs:
            return {"interrupted": epoch + 1}

    atomic_save(
        {
            "config": config_dict,
            "model": net.state_dict(),
            "model_id": model_id,
            # The neuron files as trained (the file and those it extends), for the record; a
            # non-spiking twin has none (its --neuron is not read: it may not even exist).
            "neuron_files": (
                {str(f): f.read_text() for f in model_files(cfg.neuron)} if cfg.spiking else {}
            ),
            "history": history,
            "wall_seconds": wall,
            "device": describe_device(device, net),
            # on CUDA, PyTorch's peak allocation of this process (of its epochs, if resumed)
            "gpu_peak_memory_mb": (
                round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                if device.type == "cuda"
                else None
            ),
        },
        out / "model.pt",
    )
    if not cfg.test:
        log(f"trained; model in {out / 'model.pt'}")
        return {"trained": cfg.epochs}
    return test_model(out / "model.pt", out, log=log, device=cfg.device)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bioclf.surrogate.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m bioclf.surrogate.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--config",
        help="YAML file of options: a flat mapping, keys as the options below with underscores "
        "(e.g. 'hidden: 400'), not a pipeline configuration as the other tasks' --config; "
        "the command line overrides it",
    )
    add_options(parser)
    return parser


def parse_args(argv=None) -> TrainConfig:
    """The options of the command line and its ``--config`` file, checked."""
    return _parse(argv)[0]


def _parse(argv) -> tuple[TrainConfig, dict]:
    """`parse_args`, and where each option given came from (for the errors naming it)."""
    args = build_parser().parse_args(argv)
    values: dict = {}
    sources: dict = {}  # where each option's value came from, for error messages
    if args.config:
        loaded = read_yaml(args.config, ConfigError) or {}
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
    check_memory(cfg, resolve_device(cfg.device, source_of("device", sources)), sources)
    return cfg, sources


def main(argv=None) -> int:
    # Large tensors on transparent huge pages where the kernel grants them on request (THP
    # "madvise" mode): fewer page faults on the big per-batch arrays, about 10% faster conv
    # training on these machines. PyTorch reads this once, at its first allocation.
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    try:
        cfg, sources = _parse(argv)
        train(cfg, sources=sources)
    except BioclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # (tasks.run: Ctrl-C ends it in one line, exit status 130, not with a traceback)
    raise SystemExit(tasks.run(main, resumes=RESUMES))
