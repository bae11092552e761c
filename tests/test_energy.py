"""Operation counts and energy of spiking networks and their non-spiking twins, by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import EQUATIONS

from bioclf import energy
from bioclf.surrogate import train as tr
from bioclf.surrogate.ann import AnnConv, AnnFC
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.evaluate import evaluate, spike_total, synaptic_ops
from bioclf.surrogate.networks import SpikingConv, SpikingFC
from bioclf.surrogate.saved import load_model

# p = max_rate * dt = 1: a white pixel fires at every step, a black one never.
CFG = {"T": 4, "dt": 5e-3, "max_rate": 200.0, "seed": 0}


@pytest.fixture(scope="module")
def neuron():
    return compile_neuron(EQUATIONS / "lif.yaml", CFG["dt"])


def image(*pixels) -> np.ndarray:
    x = np.zeros((1, 784), dtype=np.float32)
    for r, c in pixels:
        x[0, 28 * r + c] = 1.0
    return x


def test_cost_table_and_break_even():
    assert energy.FP32.mac == pytest.approx(4.6)
    assert energy.INT8.mac == pytest.approx(0.23)
    assert energy.FP32.ac == pytest.approx(0.9)
    assert energy.FP32.neuron_update((2, 3)) == pytest.approx(2 * 3.7 + 3 * 0.9)
    assert energy.INT8.neuron_update(energy.RELU_UPDATE) == pytest.approx(0.06)
    # the issue's ~0.26 spikes per neuron (int8 MAC against a float accumulate)
    assert energy.break_even_spikes() == pytest.approx(0.23 / 0.9)
    assert energy.break_even_spikes(energy.FP32) == pytest.approx(4.6 / 0.9)
    assert energy.break_even_spikes(memory=True) == pytest.approx((0.23 + 1.25) / (0.9 + 5))


def test_energy_components_by_hand():
    ops = energy.Operations(
        macs=10, accumulates=100, neuron_updates=7, weight_reads=110, neuron_ops=(1, 3)
    )
    e = ops.energy_pj(energy.FP32)
    assert e == pytest.approx(
        {"mac": 46.0, "ac": 90.0, "neuron": 7 * 6.4, "memory": 550.0, "total": 46 + 90 + 44.8 + 550}
    )
    blk = energy.block(energy.ann_operations(100, 3), ("fp32", "int8"), 100)
    assert blk["energy_nj"]["int8"] == pytest.approx(
        {"mac": 0.023, "ac": 0.0, "neuron": 3 * 0.06e-3, "memory": 0.125, "total": 0.14818}
    )


def test_fc_snn_counts_by_hand(neuron):
    torch.manual_seed(0)
    net = SpikingFC(neuron, hidden=3)
    with torch.no_grad():
        net.fc1.weight.zero_()
        net.fc1.bias.zero_()
        net.fc1.weight[1, 28 * 3 + 4] = 50.0  # hidden neuron 1 driven by pixel (3, 4)
    m = evaluate(net, image((3, 4), (10, 10), (20, 5)), np.array([0]), CFG)
    spikes = m["spikes_per_inference"]
    assert spikes["input"] == 3 * 4  # three white pixels, four steps
    assert spikes["hidden"] > 0
    ops = m["operations"]
    # each input spike reaches the 3 hidden neurons, each hidden spike the 10 outputs
    assert ops["accumulates"] == pytest.approx(12 * 3 + spikes["hidden"] * 10)
    assert ops["weight_reads"] == ops["accumulates"]
    assert ops["macs"] == 0
    assert ops["dense_macs"] == 784 * 3 + 3 * 10
    assert ops["neuron_updates"] == (3 + 10) * 4
    e = ops["energy_nj"]["fp32"]
    assert e["ac"] == pytest.approx(ops["accumulates"] * 0.9e-3)
    # lif.yaml's update a*v + b*I + c and its threshold compare: 2 multiplies, 3 adds
    assert list(ops["neuron_ops"]) == [2, 3]
    assert e["neuron"] == pytest.approx(52 * (2 * 3.7 + 3 * 0.9) * 1e-3)


def test_synaptic_operations_count_by_ones_past_float32():
    # a batch's total passes 2**24, where float32 sums round 2**24 + 1 to 2**24
    pre = torch.tensor([[[2.0**24, 1.0, 1.0]]])  # (time, batch, neuron) spike counts
    assert synaptic_ops(pre, torch.ones(3)) == 2**24 + 2
    assert synaptic_ops(pre, torch.tensor([1.0, 3.0, 5.0])) == 2**24 + 8
    # spikes too: 2**24 + 3 is odd, which no float32 above 2**24 is
    assert spike_total(torch.ones(1, 1, 2**24 + 3)) == 2**24 + 3


def test_conv_snn_counts_by_hand(neuron):
    net = SpikingConv(neuron, channels=(1, 1), hidden=0)
    with torch.no_grad():
        net.conv1.weight.zero_()
        net.conv1.bias.fill_(-100.0)  # conv1 silent: only the input layer's synops remain
    # pixel (0, 0) lies under one 5x5 window position of the 24x24 output, (12, 12) under 25
    m = evaluate(net, image((0, 0), (12, 12)), np.array([0]), CFG)
    ops = m["operations"]
    assert m["spikes_per_inference"]["conv1"] == 0
    assert ops["accumulates"] == pytest.approx(4 * (1 + 25))
    assert ops["dense_macs"] == 25 * 24 * 24 + 25 * 8 * 8 + 16 * 10
    assert ops["neuron_updates"] == (24 * 24 + 8 * 8 + 10) * 4


def test_ann_twin_counts_by_hand():
    cfg = CFG | {"spiking": False}
    fc = evaluate(AnnFC(hidden=3), image((3, 4)), np.array([0]), cfg)
    assert "spikes_per_inference" not in fc
    ops = fc["operations"]
    assert ops["macs"] == ops["weight_reads"] == 784 * 3 + 3 * 10
    assert (
        ops["accumulates"] == 0
        and ops["neuron_updates"] == 13
        and list(ops["neuron_ops"]) == [0, 2]
    )
    e32, e8 = ops["energy_nj"]["fp32"], ops["energy_nj"]["int8"]
    assert e32["total"] == pytest.approx((2382 * (4.6 + 5) + 13 * 1.8) / 1e3)
    assert e8["total"] == pytest.approx((2382 * (0.23 + 1.25) + 13 * 0.06) / 1e3)
    conv = evaluate(AnnConv(channels=(2, 3), hidden=5), image((3, 4)), np.array([0]), cfg)
    ops = conv["operations"]
    assert ops["macs"] == 25 * 2 * 576 + 2 * 25 * 3 * 64 + 48 * 5 + 5 * 10
    assert ops["neuron_updates"] == 2 * 576 + 3 * 64 + 5 + 10


@pytest.mark.parametrize(
    "kw",
    [dict(arch="fc", hidden=7), dict(arch="conv", channels=(2, 3), conv_hidden=6, stride1=2)],
)
def test_twin_has_the_layer_shapes_of_its_spiking_network(kw):
    snn = tr.build(tr.TrainConfig(**kw))
    ann = tr.build(tr.TrainConfig(spiking=False, **kw))
    assert {k: v.shape for k, v in ann.state_dict().items()} == {
        k: v.shape for k, v in snn.state_dict().items()
    }
    x = torch.rand(1, 5, 784)
    assert ann(x).shape == (1, 5, 10)


def test_twin_trains_through_the_shared_trainer(tmp_path):
    cfg = tr.TrainConfig(
        arch="fc",
        hidden=32,
        epochs=2,
        batch_size=50,
        lr=5e-3,
        train_subset=500,
        test_subset=200,
        threads=1,
        spiking=False,
        neuron=str(tmp_path / "none.yaml"),  # a twin reads no neuron file
        out=str(tmp_path / "ann"),
    )
    metrics = tr.train(cfg)
    assert metrics["accuracy"] > 0.5  # chance 0.1
    saved = json.loads((tmp_path / "ann" / "metrics.json").read_text())
    assert saved["config"]["spiking"] is False
    assert saved["neuron_file"] is None and saved["neuron_files"] == {}
    first = (tmp_path / "ann" / "train.log").read_text().splitlines()[0]
    assert "non-spiking twin" in first and "none.yaml" not in first and "code" not in first
    assert saved["operations"]["macs"] == 784 * 32 + 32 * 10
    # the saved model reloads as the twin
    net, loaded = load_model(tmp_path / "ann" / "model.pt")
    assert isinstance(net, AnnFC) and loaded.spiking is False
    assert tr.parse_args(["--spiking", "false", "--out", "x"]).spiking is False


def test_snn_with_an_unpriced_neuron_is_evaluated_without_a_neuron_energy(tmp_path):
    # exp(v) of an exponential integrate-and-fire membrane has no price: NaN, not a refusal
    eif = tmp_path / "eif.yaml"
    eif.write_text(
        (EQUATIONS / "lif.yaml")
        .read_text()
        .replace("(v_rest - v + R*I)/tau_m", "(v_rest - v + R*I + mV*exp((v - v_th)/mV))/tau_m")
        .replace("method: exact", "method: euler")
    )
    net = SpikingFC(compile_neuron(eif, CFG["dt"]), hidden=3)
    m = evaluate(net, image((3, 4)), np.array([0]), CFG)
    ops = m["operations"]
    assert all(np.isnan(ops["neuron_ops"])) and np.isnan(ops["energy_nj"]["fp32"]["neuron"])
    assert ops["energy_nj"]["fp32"]["ac"] == pytest.approx(ops["accumulates"] * 0.9e-3)


@pytest.mark.parametrize(
    "arch, kw",
    [
        ("fc", {"hidden": 3, "bias": False}),
        ("conv", {"channels": (2, 3)}),
        ("conv", {"channels": (2, 3), "hidden": 5, "stride1": 2}),
    ],
)
def test_a_twin_has_the_layers_of_its_spiking_network(neuron, arch, kw):
    """Twin and spiking network are built by the same layer classes (`FCLayers`,
    `ConvLayers`): the same synaptic layers, names, shapes and, from one seed, weights."""
    from bioclf.surrogate.networks import build_network

    nets = []
    for spiking in (True, False):
        torch.manual_seed(0)
        nets.append(build_network(arch, neuron, spiking=spiking, **kw))
    snn, ann = (net.state_dict() for net in nets)
    assert list(snn) == list(ann)
    assert all(torch.equal(snn[k], ann[k]) for k in snn)
    assert [type(m) for m in nets[0].synapse_layers()] == [
        type(m) for m in nets[1].synapse_layers()
    ]
