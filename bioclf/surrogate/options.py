"""Options of a surrogate-gradient training run: their defaults, meaning, checks and parsing.

`TrainConfig` is the one place where the defaults live: the command line
(``python -m bioclf.surrogate.train --help``), YAML option files, saved models and the
workflow (which passes only the options its configuration sets) all take them from here. This
module imports no torch at import time, so the workflow can read it cheaply.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields

from bioclf import tasks
from bioclf.errors import ConfigError, closest
from bioclf.io import model_file_problem

DEVICES = ("auto", "cpu", "cuda")

#: What each option does, with its unit and choices (the ``--help`` text).
HELP = {
    "arch": "network: fc = 784-H-10 fully connected (H = --hidden); conv = "
    "conv(1->C1,5x5)-pool2-conv(C1->C2,5x5)-pool2[-FC H']-10 (C1 C2 = --channels, "
    "H' = --conv-hidden)",
    "spiking": "true: the spiking network; false: its non-spiking twin (same layer shapes, "
    "ReLU, analog pixels in one pass, no neuron file)",
    "hidden": "fc: number of hidden spiking neurons",
    "channels": "conv: output channels C1 C2 of the two convolutional layers",
    "stride1": "conv: stride of the first convolution (1: followed by 2x2 pooling; 2: strided, "
    "no pooling; 28 -> 12 pixels either way)",
    "conv_hidden": "conv: spiking fully connected layer between the convolutions and the "
    "output, in neurons (0: none)",
    "epochs": "passes over the training images",
    "T": "time steps per image (presentation time T * dt)",
    "batch_size": "training images per gradient step",
    "lr": "Adam learning rate (at epoch 0 with the cosine schedule)",
    "lr_schedule": "cosine: lr * (1 + cos(pi * epoch / epochs)) / 2 per epoch; constant: lr",
    "weight_decay": "L2 penalty coefficient of Adam (dimensionless; 0: none)",
    "augment_shift": "training images shifted at random by up to this many pixels along each "
    "axis (0: off; at most 8)",
    "seed": "random seed of the weights, batch order, input spikes and subsets",
    "dt": "time step in seconds (e.g. 0.005 for 5 ms)",
    "max_rate": "input firing rate of a white pixel in Hz (max_rate * dt must lie in (0, 1])",
    "encoding": "input code: rate = a Bernoulli spike train per pixel (p = x * max_rate * dt "
    "per step); latency = one spike per pixel, brighter pixels earlier in the T steps (dark "
    "pixels never fire)",
    "neuron": "neuron equation file (equations/*.yaml) of every spiking layer",
    "surrogate": "pseudo-derivative of the spike in the backward pass: fast_sigmoid = "
    "1/(slope|x|+1)^2 (SuperSpike); atan = (slope/2)/(1+(pi/2 slope x)^2)",
    "slope": "steepness of the surrogate",
    "data": "directory of the data set's four IDX files (MNIST's layout)",
    "data_name": "name of the data set: mnist verifies MNIST's built-in checksums; another name "
    "only those of --data-checksums",
    "data_url": "base URL to download missing IDX files from, each verified before it is saved "
    "('': none)",
    "data_checksums": "MD5 of each uncompressed IDX file, as FILE=MD5,FILE=MD5 (file names "
    "without .gz; '': the built-in ones of --data-name, if any)",
    "train_subset": "train on this many images, each class in proportion (0: all; more than "
    "there are, after --validation, is an error)",
    "test_subset": "test on this many images, each class in proportion (0: all; more than "
    "there are is an error)",
    "validation": "hold out the last N training images, scored after every epoch and never "
    "trained on (0: none)",
    "threads": "CPU threads of PyTorch and the C kernels",
    "device": "auto: CUDA when a GPU is available, else the CPU; cpu: the CPU with the "
    "compiled C neuron kernels; cuda: the GPU (CUDA neuron kernels built with nvcc, else the "
    "PyTorch step functions), an error without one",
    "log_every": "progress line every this many batches",
    "checkpoint_minutes": "also write the checkpoint within an epoch, after the first batch "
    "that ends this many minutes or more after the last checkpoint (0: only after every "
    "epoch); a resumed run goes on from that batch",
    "eval_batch_size": "images per batch in evaluation",
    "test": "evaluate on the test set after training (false: leave it to "
    "python -m bioclf.surrogate.evaluate)",
    "out": "output directory (checkpoint, model.pt, metrics.json, train.log)",
}


def source_of(name: str, sources: dict | None, source: str = "(command line)") -> str:
    """Where option `name` came from, for the errors naming it: ``sources[name]`` (a YAML file
    or the command line), else `source`."""
    return (sources or {}).get(name, source)


@dataclass
class TrainConfig:
    """Options of a training run (see ``--help``)."""

    arch: str = "fc"
    spiking: bool = True  # false: the same layer shapes with ReLU on analog images (an ANN)
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
    # The rest of the configuration's data section (the pipeline passes them where set).
    data_name: str = "mnist"
    data_url: str = ""
    data_checksums: str = ""
    train_subset: int = 0
    test_subset: int = 0
    # Training images held out for choosing options without the test set: the last `validation`
    # of the training split (10000: images 50,000-59,999, as bench/stdp_validate.py), scored
    # after every epoch and never trained on.
    validation: int = 0
    threads: int = 2
    device: str = "auto"  # auto: CUDA when available, else the CPU (with the C kernels)
    log_every: int = 50
    # minutes of wall time between checkpoints within an epoch (0: at epochs' ends only)
    checkpoint_minutes: float = 10.0
    eval_batch_size: int = 500
    test: bool = True  # evaluate on the test set after training (false: leave it to `evaluate`)
    out: str = ""

    def check(self, source: str = "(command line)", sources: dict | None = None) -> None:
        """Refuse bad values, naming the option and where it came from (``sources[name]``,
        else ``source``)."""

        def bad(name, reason):
            raise ConfigError(source_of(name, sources, source), name, reason)

        # imported here: the workflow reads the defaults without importing torch
        from bioclf.surrogate.functional.surrogate import SURROGATES
        from bioclf.surrogate.networks import ARCHS

        if self.arch not in ARCHS:
            bad("arch", f"must be one of {ARCHS}, got {self.arch!r}")
        for name in (
            "hidden",
            "epochs",
            "T",
            "batch_size",
            "eval_batch_size",
            "threads",
            "log_every",
        ):
            if int(getattr(self, name)) < 1:
                bad(name, f"must be a positive integer, got {getattr(self, name)!r}")
        if self.lr <= 0:
            bad("lr", f"must be positive, got {self.lr}")
        if not 0 <= self.checkpoint_minutes < math.inf:
            minutes = self.checkpoint_minutes
            bad("checkpoint_minutes", f"must be a non-negative number, got {minutes}")
        if not self.weight_decay >= 0:
            bad("weight_decay", f"must be non-negative, got {self.weight_decay}")
        for name, argtype in (("seed", tasks.seed), ("out", tasks.out_dir)):
            try:  # the command line's checks, for values from a YAML file too
                argtype(str(getattr(self, name)))
            except argparse.ArgumentTypeError as exc:
                bad(name, str(exc))
        for name in ("train_subset", "test_subset"):
            if int(getattr(self, name)) < 0:
                bad(name, f"must be a non-negative integer (0: all), got {getattr(self, name)!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            bad("lr_schedule", f"must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.dt <= 0:
            bad("dt", f"must be a positive time in seconds, got {self.dt}")
        if not 0 < self.max_rate * self.dt <= 1:
            bad("max_rate", f"max_rate * dt = {self.max_rate * self.dt:g} must lie in (0, 1]")
        if self.encoding not in _choices_encoding():
            bad("encoding", f"must be one of {_choices_encoding()}, got {self.encoding!r}")
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
        if self.device not in DEVICES:
            bad("device", f"must be one of {DEVICES}, got {self.device!r}")
        try:
            parse_checksums(self.data_checksums)
        except ValueError as exc:
            bad("data_checksums", str(exc))
        if self.spiking and (problem := model_file_problem(self.neuron)):  # (an ANN: none)
            bad("neuron", problem)

    def data_set(self) -> dict:
        """The keyword arguments of `bioclf.data.load_split` besides the root and split."""
        return {
            "name": self.data_name,
            "checksums": parse_checksums(self.data_checksums) or None,
            "url": self.data_url or None,
        }

    def network_kwargs(self) -> dict:
        kw = {"surrogate": self.surrogate, "slope": self.slope}
        if self.arch == "fc":
            kw["hidden"] = self.hidden
        else:
            kw["channels"] = tuple(self.channels)
            kw["stride1"] = self.stride1
            kw["hidden"] = self.conv_hidden
        return kw


def parse_checksums(text: str) -> dict[str, str]:
    """``FILE=MD5,FILE=MD5`` as a mapping (empty for ''); `ValueError` saying what is wrong."""
    checksums = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, md5 = (x.strip() for x in item.partition("="))
        if not sep or not name or len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
            raise ValueError(f"expected FILE=MD5 (32 lowercase hex digits), got {item!r}")
        from bioclf.data import SPLIT_FILES

        known = [base for pair in SPLIT_FILES.values() for base in pair]
        if name.removesuffix(".gz") not in known:
            raise ValueError(f"{name!r} is not a file of the data set ({', '.join(known)})")
        checksums[name] = md5
    return checksums


def format_checksums(checksums: dict | None) -> str:
    """A mapping of file name to MD5 (the configuration's ``data.checksums``) as
    ``FILE=MD5,FILE=MD5``, the form of ``--data-checksums``."""
    return ",".join(f"{name}={md5}" for name, md5 in sorted((checksums or {}).items()))


def config_from_dict(values: dict, source: str) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if isinstance(values.get("surrogate"), dict):  # config/config.yaml, the tasks' --config
        raise ConfigError(
            source,
            "surrogate",
            "a pipeline configuration, not an option file of this task (a flat mapping of its "
            "options: --help); the pipeline's command of each network: snakemake -n -p",
        )
    if unknown:
        close = closest(str(unknown[0]), sorted(known))
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            source, unknown[0], f"unknown option ({guess}known: {', '.join(sorted(known))})"
        )
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
            if not math.isfinite(float(value)):  # (nan is a float to Python, not to a user)
                raise ConfigError(source, name, f"must be a finite number, got {value}")
            return float(value)
        if isinstance(default, tuple):
            return tuple(_typed(name, v, default[0], source) for v in value)
        if name == "data_checksums" and isinstance(value, dict):  # as in the configuration
            return format_checksums(value)
        if name == "data_url" and value is None:  # url: null, as in the configuration
            return ""
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


def resolve_device(name: str, source: str = "(command line)"):
    """The torch device of the ``device`` option.

    Raises
    ------
    ConfigError
        For 'cuda' without a usable GPU, or an unknown name.
    """
    import torch

    if name not in DEVICES:
        raise ConfigError(source, "device", f"must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            source,
            "device",
            "'cuda' was asked for but PyTorch finds no CUDA GPU; use 'auto' or 'cpu'",
        )
    return torch.device(name)


def cuda_numerics(device) -> None:
    """Hold PyTorch on a CUDA `device` to the arithmetic the CPU does (nothing on the CPU).

    cuDNN's convolutions in float32, not TF32: PyTorch's default for them on Ampere and later
    GPUs, whose 10-bit mantissa changes a convolution's sums by ~1e-3 relative, where a device
    may change only their last bits (a checkpoint may be resumed on another device; matrix
    products are float32 by PyTorch's default already). And its deterministic algorithms: the
    fastest convolution gradients sum in an order that varies from call to call, and a resumed
    run must equal an uninterrupted one.
    """
    import torch

    if device.type != "cuda":
        return
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def describe_device(device, net=None) -> str:
    """The device and how the neurons of `net` run on it, for metrics.json and the log: the
    kernels generated from the neuron file where every spiking layer has one (C on the CPU,
    CUDA on a GPU; `kernels_run`), else the PyTorch step functions; a non-spiking twin names
    the device alone."""
    import torch

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    if net is not None and not _spiking_layers(net):
        return f"cuda ({gpu})" if gpu else "cpu"
    if not kernels_run(device, net):
        how = "PyTorch step functions"
    elif gpu:
        how = "CUDA neuron kernels generated from the neuron file"
    else:
        how = "compiled C neuron kernels"
    return f"cuda ({gpu}; {how})" if gpu else f"cpu ({how})"


def kernels_run(device, net) -> bool:
    """Whether every spiking layer of `net` (None: none) runs on `device` the kernel generated
    from its neuron file (C on the CPU, CUDA on a GPU), not the PyTorch step functions: a layer
    asked for the kernel (``impl`` ``kernel``) runs those where none builds."""
    layers = _spiking_layers(net) if net is not None else []
    if device.type == "cuda":
        from bioclf.surrogate.cuda_kernels import cuda_kernel_for

        def kernel(m):
            return cuda_kernel_for(m.neuron, device)

    else:
        from bioclf.surrogate.kernels import kernel_for

        def kernel(m):
            return kernel_for(m.neuron)

    return bool(layers) and all(m.impl == "kernel" and kernel(m) is not None for m in layers)


def _spiking_layers(net) -> list:
    from bioclf.surrogate.modules import SpikingNeurons

    return [m for m in net.modules() if isinstance(m, SpikingNeurons)]


#: The options without a default, which a run must be given, here or in the YAML file.
REQUIRED = ("out",)


def _as_typed(default) -> str:
    """A default as it is typed on the command line: ``true``, ``16 32``, ``fc``."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return " ".join(map(str, default))
    return str(default)


def add_options(parser: argparse.ArgumentParser) -> None:
    """One ``--name`` per `TrainConfig` field, with `HELP`'s text and the default.

    Every default is None, so that only the options given override a YAML file's values.
    """
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.name in REQUIRED:
            text = f"{HELP[f.name]} (no default: here or in --config)"
        elif f.name == "slope":  # None: each surrogate's own
            from bioclf.surrogate.functional.surrogate import DEFAULT_SLOPE

            own = ", ".join(f"{slope:g} for {name}" for name, slope in DEFAULT_SLOPE.items())
            text = f"{HELP[f.name]} (default: {own})"
        elif default == "":  # --data-url, --data-checksums: none unless given ('': none)
            text = f"{HELP[f.name]} (default: none)"
        else:
            text = f"{HELP[f.name]} (default: {_as_typed(default)})"
        if f.name == "channels":
            parser.add_argument(flag, type=int, nargs=2, metavar=("C1", "C2"), help=text)
        elif isinstance(default, bool):
            parser.add_argument(flag, type=_boolean, metavar="{true,false}", help=text)
        else:
            kind = type(default) if default is not None else float
            # choices shown, not enforced by argparse: `TrainConfig.check` refuses a bad value
            # with the option named, for the command line and YAML files alike
            choices = CHOICES.get(f.name)
            metavar = "{" + ",".join(map(str, choices())) + "}" if choices else None
            parser.add_argument(flag, type=kind, metavar=metavar, help=text)


def _choices_arch():
    from bioclf.surrogate.networks import ARCHS

    return ARCHS


def _choices_encoding():
    from bioclf.encoding import ENCODINGS

    return ENCODINGS


def _choices_surrogate():
    from bioclf.surrogate.functional.surrogate import SURROGATES

    return SURROGATES


#: Options with a fixed set of values, shown as {a,b} in ``--help`` (lazily: torch).
CHOICES = {
    "arch": _choices_arch,
    "surrogate": _choices_surrogate,
    "lr_schedule": lambda: ("cosine", "constant"),
    "encoding": _choices_encoding,
    "device": lambda: DEVICES,
    "stride1": lambda: (1, 2),
}
