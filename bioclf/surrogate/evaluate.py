"""Test-set metrics of a trained spiking classifier, for the comparison report.

Accuracy, confusion matrix, spikes per inference in each population, synaptic operations per
inference and an energy estimate. The class is the output neuron with the most spikes (the
lowest index among ties, as ``argmax``; no spike at all predicts class 0).

SynOps counts one accumulate per presynaptic spike and outgoing synapse (a spike's fan-out).
Energy uses the 45 nm figures of Horowitz (ISSCC 2014) common in the SNN literature:
0.9 pJ per accumulate (AC, one SynOp) and 4.6 pJ per 32-bit float multiply-accumulate (MAC).
The network has no non-spiking layer (its input is spikes), so its estimate is SynOps * 0.9 pJ;
the MAC figure is given for an ANN of the same architecture (one pass, every synapse once).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from bioclf.surrogate.encode import spike_input

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
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


def macs(layer: nn.Module, pre_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one pass of `layer` as an ANN layer."""
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    c_in, h, w = pre_shape
    kh, kw = layer.kernel_size
    sh, sw = layer.stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    return c_in * kh * kw * layer.out_channels * ho * wo


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
    net : SpikingFC or SpikingConv
    images01 : ndarray (n, 784)
        Images in [0, 1].
    labels : ndarray (n,)
    cfg : dict
        With ``T``, ``dt`` (s), ``max_rate`` (Hz), ``seed`` and ``encoding`` (input spikes).
    indices : ndarray, optional
        Sample indices in the split (stream keys); default ``arange(n)``.

    Returns
    -------
    dict
        ``accuracy``, ``confusion`` (10x10 list, rows = true class), ``predictions``,
        ``spikes_per_inference`` (per population), ``synops_per_inference`` (per synapse
        layer and total), ``energy`` and ``latency`` blocks, ``n_samples``, ``eval_seconds``.
    """
    net.eval()
    n = len(labels)
    indices = np.arange(n) if indices is None else np.asarray(indices)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    predictions = np.zeros(n, dtype=np.int64)
    spike_sums: dict[str, float] = {}
    layers = net.synapse_layers()
    synops = np.zeros(len(layers))
    ann_macs = 0
    fanouts = None
    start = time.perf_counter()
    for b0 in range(0, n, batch_size):
        sl = slice(b0, min(n, b0 + batch_size))
        x = spike_input(images01[sl], indices[sl], cfg, split)
        out, spikes, pre = net(x, record=True)
        pred = predict(out.sum(0)).numpy()
        predictions[sl] = pred
        np.add.at(confusion, (labels[sl].astype(np.int64), pred), 1)
        for name, s in spikes.items():
            spike_sums[name] = spike_sums.get(name, 0.0) + float(s.sum())
        if fanouts is None:
            shapes = [tuple(p.shape[2:]) for p in pre]
            fanouts = [fan_out(layer, shape) for layer, shape in zip(layers, shapes, strict=True)]
            ann_macs = sum(macs(layer, shape) for layer, shape in zip(layers, shapes, strict=True))
        for k, (p, f) in enumerate(zip(pre, fanouts, strict=True)):
            synops[k] += float((p.sum(dim=(0, 1)) * f).sum())
        if progress is not None:
            progress(sl.stop, n)
    names = [type(layer).__name__.lower() + str(k) for k, layer in enumerate(layers)]
    synops_per = {name: synops[k] / n for k, name in enumerate(names)}
    total_synops = float(synops.sum() / n)
    return {
        "accuracy": float(np.trace(confusion) / n),
        "n_samples": int(n),
        "confusion": confusion.tolist(),
        "predictions": predictions.tolist(),
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
        "eval_seconds": time.perf_counter() - start,
    }


def main(argv=None) -> int:
    """``python -m bioclf.surrogate.evaluate --model DIR/model.pt --out DIR``."""
    import argparse
    import sys

    from bioclf.errors import BioclfError
    from bioclf.surrogate.train import test_model  # train imports this module

    parser = argparse.ArgumentParser(
        prog="python -m bioclf.surrogate.evaluate",
        description="Test-set metrics of a trained surrogate-gradient network.",
    )
    parser.add_argument("--model", required=True, help="model.pt written by the training")
    parser.add_argument("--out", required=True, help="directory for metrics.json and confusion")
    args = parser.parse_args(argv)
    try:
        test_model(args.model, args.out)
    except BioclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
