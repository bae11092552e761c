"""Test-set metrics of a trained surrogate-gradient network or its twin, for the report.

Accuracy, confusion matrix, spikes per inference in each population, synaptic operations per
inference and an energy estimate. The class is the output neuron with the most spikes (the
lowest index among ties, as ``argmax``; no spike at all predicts class 0).

SynOps counts one accumulate per presynaptic spike and outgoing synapse (a spike's fan-out).
Two energy figures, both from the 45 nm figures of Horowitz (ISSCC 2014):

* ``energy``: the synaptic compute alone, as the SNN literature gives it: SynOps * 0.9 pJ per
  accumulate (AC), beside 4.6 pJ per 32-bit float multiply-accumulate (MAC) for an ANN of the
  same architecture (one pass, every synapse once);
* ``operations``: the full model of `bioclf.energy`, which the report's energy table reads:
  ACs or MACs, neuron updates priced from the neuron file, and weight reads (a twin: float and
  int8).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bioclf import energy, neuron_cost, tasks
from bioclf.errors import BioclfError, options_of_result
from bioclf.io import save_npy, write_json, write_text
from bioclf.surrogate.ann import analog_input
from bioclf.surrogate.data import load_data
from bioclf.surrogate.encode import spike_input
from bioclf.surrogate.options import DEVICES, HELP, describe_device
from bioclf.surrogate.saved import Log, load_saved

#: Seconds between evaluation's progress lines (`progress_lines`; the last batch always has one).
EVAL_LOG_SECONDS = 10.0

# The synaptic-compute figures of the energy model (bioclf.energy), 32-bit float.
E_AC_PJ = energy.FP32.ac
E_MAC_PJ = round(energy.FP32.mac, 9)  # 4.6, not 4.6000000000000005
N_CLASSES = 10


def predict(counts: torch.Tensor) -> torch.Tensor:
    """Class of each sample from output spike counts (B, 10): argmax, lowest index on ties."""
    return counts.argmax(dim=1)


def fan_out(layer: nn.Module, pre_shape: tuple[int, ...]) -> torch.Tensor:
    """Outgoing synapses of each presynaptic neuron of `layer` (shape `pre_shape`)."""
    if isinstance(layer, nn.Linear):
        return torch.full(pre_shape, float(layer.out_features))
    if isinstance(layer, nn.Conv2d):
        c_in, h, w = pre_shape
        kh, kw = layer.kernel_size
        if layer.padding != (0, 0) or layer.dilation != (1, 1) or layer.groups != 1:
            raise NotImplementedError("fan-out of padded/dilated/grouped convolutions")
        sh, sw = layer.stride
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        covered = torch.nn.functional.conv_transpose2d(
            torch.ones(1, 1, ho, wo), torch.ones(1, 1, kh, kw), stride=layer.stride
        )[0, 0]
        full = torch.zeros(h, w)  # rows/columns a strided kernel never reaches keep 0
        full[: covered.shape[0], : covered.shape[1]] = covered
        return (full * layer.out_channels).expand(c_in, h, w).clone()
    raise TypeError(f"no fan-out rule for {type(layer).__name__}")


def spike_total(spikes: torch.Tensor) -> float:
    """The spikes of one batch's population, summed in float64 (as `synaptic_ops`)."""
    return float(spikes.sum(dtype=torch.float64))


def synaptic_ops(pre: torch.Tensor, fanout: torch.Tensor) -> float:
    """Synaptic operations of one batch: presynaptic spikes (time, batch, ...) times fan-out.

    Summed in float64: a batch's total passes 2**24, where float32 stops counting by ones.
    """
    return float((pre.sum(dim=(0, 1), dtype=torch.float64) * fanout.double()).sum())


def macs(layer: nn.Module, pre_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one pass of `layer` as an ANN layer."""
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    c_in, h, w = pre_shape
    kh, kw = layer.kernel_size
    sh, sw = layer.stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    return c_in * kh * kw * layer.out_channels * ho * wo


def network_input(x01: np.ndarray, indices, cfg: dict, split: str, epoch: int = 0):
    """`spike_input`, or for a non-spiking twin (``cfg["spiking"]`` false) the images
    (1, B, 784)."""
    if cfg.get("spiking", True):
        return spike_input(x01, indices, cfg, split, epoch=epoch)
    return analog_input(x01)


def progress_lines(
    log, label: str, total: int, every: float = EVAL_LOG_SECONDS, clock=time.monotonic
) -> Callable[[int, int], None]:
    """The `progress` callback of `evaluate` over `total` samples, timed from now: a line to
    `log` after a batch that ends `every` seconds or more after the last line (or the start),
    and after the last batch, with the time elapsed and left as in training's lines:
    ``{label}: 1500/10000 samples, 120 samples/s, 0:12 elapsed, 1:11 left``."""
    timer = tasks.Progress(total, 0, clock=clock)
    last = [timer.start]

    def progress(done: int, n: int) -> None:
        now = clock()
        if now - last[0] < every and done < n:
            return
        last[0] = now
        rate = done / (now - timer.start) if now > timer.start else float("nan")
        log(f"{label}: {done}/{n} samples, {rate:.0f} samples/s, {timer(done)}")

    return progress


@torch.no_grad()
def evaluate(
    net: nn.Module,
    images01: np.ndarray,
    labels: np.ndarray,
    cfg: dict,
    indices: np.ndarray | None = None,
    batch_size: int = 500,
    split: str = "test",
    progress=None,
) -> dict:
    """Metrics of `net` on a data set.

    Parameters
    ----------
    net : SpikingFC or SpikingConv, or a non-spiking twin (`bioclf.surrogate.ann`)
    images01 : ndarray (n, 784)
        Images in [0, 1].
    labels : ndarray (n,)
    cfg : dict
        With ``T``, ``dt`` (s), ``max_rate`` (Hz), ``seed`` and ``encoding`` (input spikes).
    indices : ndarray, optional
        Sample indices in the split (stream keys); default ``arange(n)``.
    progress : callable, optional
        Called as ``progress(done, n)`` after every batch (`progress_lines` logs from it).

    Returns
    -------
    dict
        ``accuracy``, ``confusion`` (10x10 list, rows = true class), ``predictions``,
        ``spikes_per_inference`` (per population), ``synops_per_inference`` (per synapse
        layer and total), ``energy`` and ``latency`` blocks, ``n_samples``, ``eval_seconds``;
        ``operations``: counts and energy per component (`bioclf.energy`). A twin
        (``cfg['spiking']`` false) has no spike, synops, ``energy`` or ``latency`` entries.
    """
    n = len(labels)
    if not n:
        raise ValueError("no samples to evaluate (an empty data set: its metrics are undefined)")
    net.eval()
    device = next(net.parameters()).device  # inputs go where the network is
    indices = np.arange(n) if indices is None else np.asarray(indices)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    predictions = np.zeros(n, dtype=np.int64)
    spike_sums: dict[str, float] = {}
    layers = net.synapse_layers()
    synops = np.zeros(len(layers))
    ann_macs = 0
    fanouts = None
    spiking = cfg.get("spiking", True)
    start = time.perf_counter()
    for b0 in range(0, n, batch_size):
        sl = slice(b0, min(n, b0 + batch_size))
        x = network_input(images01[sl], indices[sl], cfg, split).to(device)
        out, spikes, pre = net(x, record=True)
        pred = predict(out.sum(0)).cpu().numpy()
        predictions[sl] = pred
        np.add.at(confusion, (labels[sl].astype(np.int64), pred), 1)
        if fanouts is None:
            shapes = [tuple(p.shape[2:]) for p in pre]
            fanouts = [
                fan_out(layer, shape).to(device)
                for layer, shape in zip(layers, shapes, strict=True)
            ]
            ann_macs = sum(macs(layer, shape) for layer, shape in zip(layers, shapes, strict=True))
            # every population but the input, per sample
            n_neurons = sum(s[0, 0].numel() for name, s in spikes.items() if name != "input")
        if spiking:  # (a non-spiking twin's "spikes" are its activations)
            for name, s in spikes.items():
                spike_sums[name] = spike_sums.get(name, 0.0) + spike_total(s)
            for k, (p, f) in enumerate(zip(pre, fanouts, strict=True)):
                synops[k] += synaptic_ops(p, f)
        if progress is not None:
            progress(sl.stop, n)
    names = [type(layer).__name__.lower() + str(k) for k, layer in enumerate(layers)]
    synops_per = {name: synops[k] / n for k, name in enumerate(names)}
    total_synops = float(synops.sum() / n)
    common = {
        "accuracy": float(np.trace(confusion) / n),
        "n_samples": int(n),
        "confusion": confusion.tolist(),
        "predictions": predictions.tolist(),
    }
    if not spiking:
        ops = energy.ann_operations(ann_macs, n_neurons)
        return common | {
            "operations": energy.block(ops, ("fp32", "int8"), ann_macs),
            "eval_seconds": time.perf_counter() - start,
        }
    neuron = net.lif1.neuron  # every population's (CompiledNeuron): its file prices an update
    # (cached: a validation pass each epoch; a file without a price, exp(v): NaN)
    update, _ = neuron_cost.price_of_file(neuron.model.path, neuron.dt)
    ops = energy.snn_operations(total_synops, n_neurons, int(cfg["T"]), update)
    return common | {
        "spikes_per_inference": {k: v / n for k, v in spike_sums.items()},
        "synops_per_inference": {"layers": synops_per, "total": total_synops},
        "energy": {
            "technology": "45 nm (Horowitz 2014)",
            "pj_per_ac": E_AC_PJ,
            "pj_per_mac": E_MAC_PJ,
            "snn_nj_per_inference": total_synops * E_AC_PJ / 1e3,
            "non_spiking_first_layer_macs": 0,
            "ann_equivalent_macs": int(ann_macs),
            "ann_equivalent_nj_per_inference": ann_macs * E_MAC_PJ / 1e3,
        },
        "latency": {
            "time_steps": int(cfg["T"]),
            "ms": float(cfg["T"] * cfg["dt"] * 1e3),
            "pipeline_delay_steps": len(layers),
        },
        "operations": energy.block(ops, ("fp32",), ann_macs),
        "eval_seconds": time.perf_counter() - start,
    }


def test_model(
    model_path: str | Path, out: str | Path, log: Log | None = None, device: str | None = None
) -> dict:
    """Evaluate a saved model on the test set; write ``metrics.json``, confusion and predictions.

    The metrics carry the training history and wall time saved with the model, so they hold
    everything the comparison report needs.

    Parameters
    ----------
    device : {'auto', 'cpu', 'cuda'}, optional
        Where to run (`bioclf.surrogate.options.resolve_device`); default: the ``device``
        option the model was trained with.
    """
    model_path, out = Path(model_path), Path(out)
    net, cfg, saved = load_saved(model_path, device)
    where = next(net.parameters()).device
    torch.set_num_threads(cfg.threads)
    config_dict = asdict(cfg)
    with options_of_result(model_path):  # (its options: test_subset, say)
        x_test, y_test, idx_test = load_data(cfg, "test", str(model_path))
    out.mkdir(parents=True, exist_ok=True)  # (a model or data refused leaves no directory)
    log = log or Log(out / "test.log")
    log(f"evaluating {model_path} on {len(y_test)} test samples")
    metrics = evaluate(
        net,
        x_test,
        y_test,
        config_dict,
        indices=idx_test,
        split="test",
        batch_size=cfg.eval_batch_size,
        progress=progress_lines(log, "test", len(y_test)),
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
            "neuron_file": str(cfg.neuron) if cfg.spiking else None,
            "neuron_files": saved.get("neuron_files", {}),
            "device": describe_device(where, net),
            "training_device": saved.get("device"),
            "training_gpu_peak_memory_mb": saved.get("gpu_peak_memory_mb"),
            "provenance": {**tasks.provenance(), "device": describe_device(where, net)},
        }
    )
    save_npy(out / "confusion.npy", confusion)
    text = io.StringIO()
    np.savetxt(text, confusion, fmt="%d", delimiter=",")
    write_text(out / "confusion.csv", text.getvalue())
    slim = {k: v for k, v in metrics.items() if k != "predictions"}
    write_json(out / "metrics.json", slim, sort_keys=False)
    save_npy(out / "predictions.npy", np.asarray(metrics["predictions"], dtype=np.int64))
    log(
        f"test accuracy {metrics['accuracy']:.4f} on "
        f"{tasks.counted(metrics['n_samples'], 'sample')}; "
        f"training wall time {wall:.0f} s"
    )
    return slim


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bioclf.surrogate.evaluate``."""
    parser = argparse.ArgumentParser(
        prog="python -m bioclf.surrogate.evaluate",
        description="Test-set metrics of a trained surrogate-gradient network or its "
        "non-spiking twin. Progress lines "
        f"(samples done, samples/s, time elapsed and left; every {EVAL_LOG_SECONDS:g} s or "
        "more and at the end) go to stderr and OUT/test.log.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="model.pt written at the end of the training (path; not its checkpoint.pt)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=tasks.out_dir,
        help="directory for metrics.json, confusion.npy/.csv, predictions.npy and test.log",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help=HELP["device"] + " (default: the option the model was trained with)",
    )
    return parser


def main(argv=None) -> int:
    """``python -m bioclf.surrogate.evaluate --model DIR/model.pt --out DIR``."""
    args = build_parser().parse_args(argv)
    try:
        test_model(args.model, args.out, device=args.device)
    except BioclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # (tasks.run: Ctrl-C ends it in one line, exit status 130, not with a traceback)
    raise SystemExit(tasks.run(main))
