"""The report's ANN-versus-SNN section: energy table, verdicts, Pareto front."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import EQUATIONS

from bioclf import energy, report_energy
from bioclf.errors import ConfigError, ResultFileError

LIF = str(EQUATIONS / "lif.yaml")


def test_pareto_front_by_hand():
    points = [(10.0, 0.90), (5.0, 0.80), (20.0, 0.95), (30.0, 0.93), (5.0, 0.70), (12, 0.9)]
    assert report_energy.pareto(points) == [(5.0, 0.80), (10.0, 0.90), (20.0, 0.95)]


def test_the_figure_draws_a_front_of_one_point(tmp_path, monkeypatch):
    """The committed figure's title promised a dashed Pareto front, and none was drawn: where
    one network is both the cheapest and the most accurate (the int8 ANN twin), the front is
    that point, and a step line through one point is invisible. The front now runs on to the
    largest energy plotted: every point right of it and below it is beaten."""
    from bioclf import plots

    drawn = {}

    def keep(fig, path):
        for ax in fig.axes:
            dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
            drawn[ax.get_title()] = [list(line.get_xdata()) for line in dashed]

    monkeypatch.setattr(plots, "_save", keep)
    table = pd.DataFrame(
        {
            "method": ["ann", "surrogate"],
            "network": ["FC", "FC"],
            "precision": ["int8", "fp32"],
            "accuracy": [0.98, 0.97],
            "compute_nj": [20.0, 300.0],
            "total_nj": [100.0, 1600.0],
        }
    )
    report_energy.figure(table, tmp_path / "accuracy_vs_energy.png")
    assert list(drawn.values()) == [[[20.0, 300.0]], [[100.0, 1600.0]]], drawn


@pytest.mark.parametrize(
    "config, neurons",
    [
        ({"arch": "fc", "hidden": 100}, 110),
        ({"arch": "conv", "channels": [16, 48], "conv_hidden": 128}, 16 * 576 + 48 * 64 + 138),
    ],
)
def test_neuron_count_of_a_training_configuration(config, neurons):
    assert report_energy._neurons(config, "metrics.json") == neurons


def test_a_refused_training_configuration_names_its_metrics_file():
    """Before: the 'config' of a metrics.json a training wrote was refused as 'configuration
    (metrics.json): ...', a configuration file of no path; it is that result file's field."""
    with pytest.raises(ResultFileError) as err:
        report_energy._neurons({"bogus": 1}, "run/metrics.json")
    assert not isinstance(err.value, ConfigError)
    assert str(err.value).startswith("run/metrics.json: field 'bogus': unknown option")


def _metrics(d, accuracy, ops, precisions, dense):
    d.mkdir(parents=True)
    block = energy.block(ops, precisions, dense)
    config = {"neuron": LIF, "dt": 5e-3}
    (d / "metrics.json").write_text(
        json.dumps({"accuracy": accuracy, "operations": block, "config": config})
    )


def test_section_table_and_verdict_by_hand(tmp_path):
    dense = 784 * 3 + 3 * 10
    snn, ann = tmp_path / "surrogate", tmp_path / "ann"
    # (the block's own price of an update is not read: the report prices the file)
    _metrics(snn, 0.95, energy.snn_operations(1000, 13, 4, (9, 9)), ("fp32",), dense)
    _metrics(ann, 0.96, energy.ann_operations(dense, 13), ("fp32", "int8"), dense)
    common = {"network": "FC 784-3-10", "seed": 0, "n": 3}
    df = pd.DataFrame(
        [
            {**common, "method": "surrogate", "accuracy": 0.95, "_dir": snn},
            {**common, "method": "ann", "accuracy": 0.96, "_dir": ann},
            {
                "method": "stdp",
                "network": "Diehl&Cook N=5",
                "n": 5,
                "seed": 0,
                "accuracy": 0.5,
                "synops_per_inference": 200.0,
                "time_steps": 10.0,
            },
        ]
    )
    (tmp_path / "figures").mkdir()
    cfg = {
        "stdp": {
            "models": {
                "exc": str(EQUATIONS / "dc_exc.yaml"),
                "inh": str(EQUATIONS / "dc_inh.yaml"),
            },
            "protocol": {"dt": "0.5*ms"},
        }
    }
    lines = report_energy.section(df, tmp_path, cfg)
    table = pd.read_csv(tmp_path / "energy.csv")
    assert list(table["precision"]) == ["fp32", "fp32", "int8", "fp32"]
    stdp = table[table["method"] == "stdp"].iloc[0]
    assert stdp["neuron_updates"] == 2 * 5 * 10 and stdp["accumulates"] == 200
    # STDP: 5 exc updates of 5 multiplies and 7 adds, 5 inh of 5 and 6, at each of 10 steps
    e_exc, e_inh = 5 * 3.7 + 7 * 0.9, 5 * 3.7 + 6 * 0.9
    assert stdp["neuron_nj"] == pytest.approx(5 * 10 * (e_exc + e_inh) / 1e3)
    assert (stdp["neuron_multiplies"], stdp["neuron_adds"]) == (5, 6.5)
    # SNN: 1000 ACs and reads, 13 neurons x 4 steps of lif.yaml's 2 multiplies and 3 adds;
    # ANN: 2382 MACs and reads, 13 ReLUs
    e_snn = 1000 * (0.9 + 5.0) + 52 * (2 * 3.7 + 3 * 0.9)
    e_ann32 = dense * (4.6 + 5.0) + 13 * 1.8
    e_ann8 = dense * (0.23 + 1.25) + 13 * 0.06
    assert table["total_nj"].tolist()[:3] == pytest.approx(
        [e_snn / 1e3, e_ann32 / 1e3, e_ann8 / 1e3]
    )
    # the note prices each file it used
    note = " ".join(lines)
    assert "lower bound" not in note
    assert f"`{LIF}` at dt 5 ms, 2 multiplies and 3 adds (10.1 pJ)" in note
    assert f"`{EQUATIONS / 'dc_exc.yaml'}` at dt 0.5 ms, 5 multiplies and 7 adds (24.8 pJ)" in note
    assert f"`{EQUATIONS / 'dc_inh.yaml'}` at dt 0.5 ms, 5 multiplies and 6 adds (23.9 pJ)" in note
    verdict = next(line for line in lines if line.startswith("- **FC 784-3-10"))
    assert f"{e_ann32 / e_snn:.2f}x cheaper than its fp32 ANN twin" in verdict
    assert f"{e_snn / e_ann8:.2f}x dearer than its int8 ANN twin" in verdict
    assert "1.00 points less accurate" in verdict
    assert f"{1000 / dense:.2f} spikes per presynaptic neuron" in verdict
    # the totals include the weight reads, and so do the break-evens they are set against
    assert (
        "below the fp32 break-even of 1.63 with weight reads (5.11 for the arithmetic alone) "
        "and above the int8 break-even of 0.25 with weight reads (0.26 for the arithmetic alone)"
    ) in verdict
    assert (tmp_path / "figures" / "accuracy_vs_energy.png").exists()


def test_ann_rows_only_where_the_configuration_trains_twins(tmp_path):
    import shutil

    from conftest import ROOT

    from bioclf import config as cfgmod

    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    shutil.copytree(ROOT / "results" / "ann" / "fc100" / "seed0", tmp_path / "ann/fc100/seed0")
    assert [r["network"] for r in report_energy.ann_rows(cfg, tmp_path)] == ["FC 784-100-10"]
    cfg["ann"] = {"enabled": False}  # the twin on disk is an earlier run's
    assert report_energy.ann_rows(cfg, tmp_path) == []


def test_a_neuron_file_without_a_price_gives_nan_and_says_why(tmp_path):
    # an exponential integrate-and-fire membrane: exp(v) has no price in the energy model
    text = (EQUATIONS / "lif.yaml").read_text()
    eif = tmp_path / "eif.yaml"
    eif.write_text(
        text.replace(
            "(v_rest - v + R*I)/tau_m", "(v_rest - v + R*I + mV*exp((v - v_th)/mV))/tau_m"
        ).replace("method: exact", "method: euler")
    )
    dense = 784 * 3 + 3 * 10
    snn, ann = tmp_path / "surrogate", tmp_path / "ann"
    _metrics(snn, 0.95, energy.snn_operations(1000, 13, 4, (9, 9)), ("fp32",), dense)
    m = json.loads((snn / "metrics.json").read_text())
    m["config"]["neuron"] = str(eif)
    (snn / "metrics.json").write_text(json.dumps(m))
    _metrics(ann, 0.96, energy.ann_operations(dense, 13), ("fp32", "int8"), dense)
    common = {"network": "FC 784-3-10", "seed": 0, "n": 3}
    df = pd.DataFrame(
        [
            {**common, "method": "surrogate", "accuracy": 0.95, "_dir": snn},
            {**common, "method": "ann", "accuracy": 0.96, "_dir": ann},
        ]
    )
    (tmp_path / "figures").mkdir()
    lines = report_energy.section(df, tmp_path, {})
    table = pd.read_csv(tmp_path / "energy.csv").set_index("method")
    assert pd.isna(table.loc["surrogate", "neuron_nj"]) and pd.isna(
        table.loc["surrogate", "total_nj"]
    )
    assert table.loc["surrogate", "ac_nj"] == pytest.approx(0.9)
    note = " ".join(lines)
    assert f"`{eif}`: no price, the function 'exp' of a variable" in note
    assert not any(line.startswith("- **FC 784-3-10") for line in lines)  # no verdict on nan
    assert (tmp_path / "figures" / "accuracy_vs_energy.png").exists()


def test_the_note_remarks_only_on_the_files_and_methods_it_prices(tmp_path):
    # lif.yaml integrated with rk4: no 'exact update a·v + b·I + c', and no STDP rows, no
    # sentence on STDP's mean (both were written whatever the rows)
    rk4 = tmp_path / "rk4" / "lif.yaml"
    rk4.parent.mkdir()
    rk4.write_text((EQUATIONS / "lif.yaml").read_text().replace("method: exact", "method: rk4"))
    dense = 784 * 3 + 3 * 10
    snn = tmp_path / "surrogate"
    _metrics(snn, 0.95, energy.snn_operations(1000, 13, 4, (9, 9)), ("fp32",), dense)
    m = json.loads((snn / "metrics.json").read_text())
    m["config"]["neuron"] = str(rk4)
    (snn / "metrics.json").write_text(json.dumps(m))
    row = {"network": "FC 784-3-10", "seed": 0, "n": 3, "method": "surrogate", "_dir": snn}
    df = pd.DataFrame([{**row, "accuracy": 0.95}])
    (tmp_path / "figures").mkdir()
    note = " ".join(report_energy.section(df, tmp_path, {}))
    assert f"`{rk4}` at dt 5 ms, 14 multiplies and 16 adds" in note
    assert "exact update" not in note and "STDP's rows" not in note
    # the shipped file: its count, and no history of earlier prices (bench/README.md has it)
    m["config"]["neuron"] = LIF
    (snn / "metrics.json").write_text(json.dumps(m))
    note = " ".join(report_energy.section(df, tmp_path, {}))
    assert "at dt 5 ms, 2 multiplies and 3 adds (10.1 pJ)" in note
    assert "earlier reports" not in note and "exact update" not in note


def test_a_report_without_spiking_rows_prices_no_neuron_file(tmp_path):
    # only an ANN twin (its spiking network's run missing): the note said "A spiking neuron's
    # update ... Per file: ." with no file to list
    dense = 784 * 3 + 3 * 10
    ann = tmp_path / "ann"
    _metrics(ann, 0.96, energy.ann_operations(dense, 13), ("fp32", "int8"), dense)
    row = {"network": "FC 784-3-10", "seed": 0, "n": 3, "method": "ann", "_dir": ann}
    (tmp_path / "figures").mkdir()
    note = " ".join(report_energy.section(pd.DataFrame([{**row, "accuracy": 0.96}]), tmp_path, {}))
    assert "pJ int8. Activation and membrane-state traffic" in note
    assert "Per file" not in note and "spiking neuron's update" not in note


def test_the_note_quotes_the_energy_model_it_prices_with(tmp_path, monkeypatch):
    # the results table's column was said to be at 0.9 / 4.6 pJ, whatever energy.FP32 held
    monkeypatch.setattr(energy, "FP32", energy.Costs("32-bit float", 2.0, 0.5, 5.0))
    dense = 784 * 3 + 3 * 10
    ann = tmp_path / "ann"
    _metrics(ann, 0.96, energy.ann_operations(dense, 13), ("fp32",), dense)
    row = {"network": "FC 784-3-10", "seed": 0, "n": 3, "method": "ann", "_dir": ann}
    (tmp_path / "figures").mkdir()
    note = " ".join(report_energy.section(pd.DataFrame([{**row, "accuracy": 0.96}]), tmp_path, {}))
    assert "multiply 2.0 pJ, add 0.5 pJ (MAC 2.5, accumulate 0.5)" in note
    assert "accumulates at 0.5 pJ, an ANN's MACs at 2.5 pJ.)" in note
