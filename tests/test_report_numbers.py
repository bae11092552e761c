"""The report's numbers: what each is, and that those committed are those of the run files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from bioclf import config as cfgmod
from bioclf import energy, report, report_energy

RESULTS = ROOT / "results"


def _row(seed, accuracy, method="stdp", network="Diehl&Cook N=100", **extra):
    return {"method": method, "network": network, "seed": seed, "accuracy": accuracy, **extra}


def test_summary_table_says_its_rows_are_means_over_seeds():
    """The table showed '85.98% ± 0.47' under 'test accuracy', and the other columns' means,
    without saying either was a mean over seeds or what followed the ±."""
    df = pd.DataFrame([_row(0, 0.8631), _row(1, 0.8564)], columns=report.COLUMNS)
    header, _, row = report.summary_table(df).splitlines()
    assert "| test accuracy (mean ± sd) |" in header
    assert "| 2 | 85.97% ± 0.47 |" in row or "| 2 | 85.98% ± 0.47 |" in row
    notes = " ".join(report.results_notes(150.0))
    assert "the mean over its seeds" in notes and "sample standard deviation" in notes


def test_results_notes_name_the_source_of_every_column():
    """Every column of the results table has a line saying which file and field it is read
    from, and the energy line gives both energies per operation (the table had an ANN row of
    365 nJ beside a note of 0.9 pJ per synaptic operation and 0 synaptic operations)."""
    header = report.summary_table(pd.DataFrame(columns=report.COLUMNS)).splitlines()[0]
    columns = [c.strip() for c in header.strip("|").split("|")][3:]
    notes = report.results_notes(150.0)
    named = [line[2:].split(":")[0] for line in notes if line.startswith("- ")]
    for column in columns:
        stem = re.sub(r" \(.*\)$", "", column)
        if column == "dt (ms)":
            continue  # the configuration's, printed below the report
        assert any(stem.startswith(n) or n.startswith(stem) for n in named), column
    text = " ".join(notes)
    assert f"SynOps x {energy.FP32.ac:g} pJ" in text and f"MACs x {energy.FP32.mac:g} pJ" in text
    assert "150 ms rest" in text and "7 for N=1600" in text


def test_an_ann_row_has_no_synaptic_operations_rather_than_zero(tmp_path):
    """An ANN twin's row said 0 SynOps per inference beside its 365 nJ: it does 79,400 MACs."""
    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    shutil.copytree(RESULTS / "ann" / "fc100" / "seed0", tmp_path / "ann/fc100/seed0")
    (row,) = report_energy.ann_rows(cfg, tmp_path)
    assert np.isnan(row["synops_per_inference"])
    df = pd.DataFrame([row], columns=report.COLUMNS)
    cells = report.summary_table(df).splitlines()[2].split("|")
    assert cells[11].strip() == "–" and cells[12].strip() == "365.2"


# The committed results: every number of the results table and of the energy table recomputed
# from the run files the report names.


def _json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def committed():
    return pd.read_csv(RESULTS / "metrics.csv"), (RESULTS / "report.md").read_text()


def test_committed_stdp_numbers_recomputed_from_the_run_files(committed):
    metrics, text = committed
    row = metrics[metrics["method"] == "stdp"].iloc[0]
    run = RESULTS / "stdp" / row["backend"] / f"n{row['n']}" / f"seed{row['seed']}"
    m, t = _json(run / "test" / "metrics.json"), _json(run / "train_metrics.json")
    confusion = np.array(m["confusion"])
    assert confusion.sum() == m["n_test"] == 10000
    assert np.trace(confusion) / confusion.sum() == pytest.approx(row["accuracy"])
    s, n = m["spikes_per_inference"], row["n"]
    synops = s["input"] * n + s["exc"] + s["inh"] * (n - 1)  # all-to-all, 1:1, all-but-self
    assert row["synops_per_inference"] == pytest.approx(synops)
    assert row["energy_nj_per_inference"] == pytest.approx(synops * 0.9e-3)
    assert row["spikes_per_inference"] == pytest.approx(sum(s.values()))
    assert row["time_steps"] == pytest.approx(1000 * m["presentations_per_inference"])
    assert row["training_samples_per_s"] == pytest.approx(
        t["training_samples"] / t["training_wall_time_s"], rel=1e-4
    )
    assert row["inference_ms_per_sample"] == pytest.approx(
        m["test_wall_time_s"] / m["n_test"] * 1e3, rel=1e-3
    )
    assert row["anchor_accuracy"] == pytest.approx(0.829)  # Diehl & Cook 2015, N=100
    line = next(x for x in text.splitlines() if x.startswith("| stdp | Diehl&Cook N=100 |"))
    assert f"| {100 * row['accuracy']:.2f}% | 82.9% |" in line
    assert f"| {synops:,.0f} | {synops * 0.9e-3:.1f} |" in line


def test_committed_surrogate_and_ann_numbers_recomputed_from_the_run_files(committed):
    metrics, text = committed
    for method, hidden in (("surrogate", 100), ("ann", 100)):
        row = metrics[metrics["method"] == method].iloc[0]
        m = _json(RESULTS / method / "fc100" / f"seed{row['seed']}" / "metrics.json")
        confusion = np.loadtxt(
            RESULTS / method / "fc100" / f"seed{row['seed']}" / "confusion.csv", delimiter=","
        )
        assert confusion.sum() == m["n_samples"] == 10000
        assert np.trace(confusion) / 10000 == pytest.approx(row["accuracy"])
        epochs = m["config"]["epochs"]
        assert row["training_samples_per_s"] == pytest.approx(
            60000 * epochs / m["training_wall_seconds"]
        )
        dense = 784 * hidden + hidden * 10
        if method == "ann":
            assert np.isnan(row["synops_per_inference"])
            assert row["energy_nj_per_inference"] == pytest.approx(dense * 4.6e-3)
            continue
        s = m["spikes_per_inference"]
        synops = s["input"] * hidden + s["hidden"] * 10  # the output layer has no fan-out
        assert row["synops_per_inference"] == pytest.approx(synops)
        assert row["energy_nj_per_inference"] == pytest.approx(synops * 0.9e-3)
        b = _json(
            RESULTS / "surrogate" / "fc100" / f"seed{row['seed']}" / "brian" / "brian2_export.json"
        )
        assert row["brian2_accuracy"] == b["accuracy_brian2"] and b["n_samples"] == 10000
    # the energy table: the same counts at the stated energies per operation
    e = pd.read_csv(RESULTS / "energy.csv").set_index(["method", "precision"])
    snn = e.loc[("surrogate", "fp32")]
    assert snn["neuron_updates"] == (hidden + 10) * 25
    assert snn["total_nj"] == pytest.approx(
        snn["accumulates"] * (0.9 + 5.0) * 1e-3
        + snn["neuron_updates"] * (2 * 3.7 + 3 * 0.9) * 1e-3,  # lif.yaml: 2 multiplies, 3 adds
        rel=1e-5,
    )
    # STDP: as many exc (dc_exc_fast.yaml: 5 multiplies, 7 adds) as inh (dc_inh.yaml: 5, 6)
    stdp = e.loc[("stdp", "fp32")]
    assert stdp["neuron_nj"] == pytest.approx(
        stdp["neuron_updates"] / 2 * ((5 * 3.7 + 7 * 0.9) + (5 * 3.7 + 6 * 0.9)) * 1e-3, rel=1e-5
    )
    ann = e.loc[("ann", "int8")]
    assert ann["macs"] == dense and ann["total_nj"] == pytest.approx(
        dense * (0.23 + 1.25) * 1e-3 + (hidden + 10) * 0.06e-3, rel=1e-5
    )
    assert "| ann | FC 784-100-10 | 1 |" in text


def test_committed_rows_are_those_the_current_code_computes_from_the_run_files(committed):
    """The tests above hold metrics.csv to its run files by formula, never running the code
    that writes it: a broken row (`report._stdp_row`'s time steps, say) passed them. Each
    committed row is the one the current code computes from the same run files."""
    metrics, _ = committed
    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    inputs = report.comparison_inputs(report.expected_inputs(cfg, RESULTS), RESULTS)
    rows = report.stdp_rows(cfg, inputs) + report.surrogate_rows(cfg, inputs)
    rows += report_energy.ann_rows(cfg, RESULTS)  # (as report.main collects them)
    assert [r["method"] for r in rows] == list(metrics["method"])
    for row, (_, saved) in zip(rows, metrics.iterrows(), strict=True):
        for key, value in row.items():
            if key.startswith("_"):
                continue
            if isinstance(value, str):
                assert saved[key] == value, (row["method"], key)
            else:
                assert saved[key] == pytest.approx(value, rel=1e-12, nan_ok=True), (
                    row["method"],
                    key,
                )


def test_each_figure_is_captioned_with_its_own_run(tmp_path):
    """An ANN twin's confusion figure was captioned 'Confusion matrix, surrogate FC 784-100-10',
    the spiking network's caption, and took its place in the report; the figures of a network
    whose seeds did not include the smallest of all were left out; captions named no seed."""
    runs = {}
    for method, seed in (("surrogate", 3), ("ann", 3), ("ann", 5)):
        d = tmp_path / method / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "confusion.png").write_bytes(f"{method} {seed}".encode())
        history = [{"epoch": 1, "train_accuracy": 0.9, "samples_per_second": 10, "seconds": 6}]
        (d / "metrics.json").write_text(json.dumps({"history": history, "config": {}}))
        runs[method, seed] = d
    stdp = RESULTS / "stdp" / "cpp" / "n100" / "seed0"
    df = pd.DataFrame(
        [
            _row(0, 0.85, _dir=stdp),
            _row(3, 0.97, "surrogate", "FC 784-100-10", _dir=runs["surrogate", 3]),
            _row(5, 0.98, "ann", "FC 784-100-10", _dir=runs["ann", 5]),
            _row(3, 0.98, "ann", "FC 784-100-10", _dir=runs["ann", 3]),
        ],
        columns=[*report.COLUMNS, "_dir"],
    )
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    sur = figs["Confusion matrix on the test set, surrogate FC 784-100-10, seed 3"]
    ann = figs["Confusion matrix on the test set, ann FC 784-100-10, seed 3"]
    assert (tmp_path / sur).read_bytes() == b"surrogate 3"
    assert (tmp_path / ann).read_bytes() == b"ann 3"
    assert not any("seed 5" in caption for caption in figs)  # one seed's figures per network
    fields = figs["Learned receptive fields, Diehl&Cook N=100, seed 0"]
    assert (tmp_path / fields).read_bytes() == (stdp / "receptive_fields.png").read_bytes()
    assert "Training accuracy over training samples, both methods (not the test set)" in figs


def test_figures_of_means_over_seeds_say_so(tmp_path, monkeypatch):
    """The accuracy-against-N and sweep figures plot each network's mean over its seeds under
    a bare 'test accuracy'."""
    from bioclf import plots, report_sweeps

    saved = {}

    def keep(fig, path):
        saved[Path(path).name] = [ax.get_ylabel() for ax in fig.axes] + [
            fig._suptitle.get_text() if fig._suptitle else ""
        ]

    monkeypatch.setattr(plots, "_save", keep)
    df = pd.DataFrame(
        [_row(0, 0.85, n=100, _dir=tmp_path), _row(1, 0.86, n=100, _dir=tmp_path)],
        columns=[*report.COLUMNS, "_dir"],
    )
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    assert saved["accuracy_vs_n.png"][0] == "test accuracy (mean over seeds)"
    assert any(c.startswith("Test accuracy against N, mean over seeds") for c in figs)
    sweep = pd.DataFrame(
        {
            "x": [1.0, 1.0, 2.0],
            "accuracy": [0.8, 0.9, 0.7],
            "network_spikes_per_inference": [1.0, 2.0, 3.0],
            "method": "stdp",
            "network": "N=100",
            "unit": "ms",
            "parameter": "tau",
            "baseline": 1.0,
        }
    )
    report_sweeps.figure(sweep, tmp_path / "sweep.png", "f.yaml: tau")
    assert saved["sweep.png"][-1] == "f.yaml: tau (each point: the mean over seeds)"


def test_small_inference_times_keep_their_digits():
    """An ANN's 0.007 ms per sample was printed 0.01 (two decimals): 43% off."""
    df = pd.DataFrame(
        [_row(0, 0.98, "ann", "FC", inference_ms_per_sample=0.00704)], columns=report.COLUMNS
    )
    row = report.summary_table(df).splitlines()[2]
    assert "| 0.007 |" in row and "| 0.01 |" not in row, row
    df.loc[0, "inference_ms_per_sample"] = 1.2871
    assert "| 1.29 |" in report.summary_table(df).splitlines()[2]


@pytest.mark.parametrize("where, config", [("", "config.yaml"), ("conv", "conv.yaml")])
def test_a_committed_report_is_that_of_the_current_code_and_configuration(where, config):
    """results/conv/report.md was rendered before bbe108e and 5eb4305: its table printed the
    ANN's 0.007 ms as 0.01 and its configuration said chunk 1000 where config/conv.yaml says
    4000 (its energy note was the older one too). Checked: the table and the configuration."""
    import yaml

    d = RESULTS / where
    text = (d / "report.md").read_text()
    assert report.summary_table(pd.read_csv(d / "metrics.csv")) in text
    shown = yaml.safe_load(text.split("\n```yaml\n", 1)[1].split("\n```", 1)[0])
    assert shown == cfgmod.load(ROOT / "config" / config)


def test_the_neuron_figures_name_the_checked_file(tmp_path):
    """The membrane and f-I figures were captioned 'one LIF neuron' whatever
    neuron_check.model named; they name the file the check ran on."""
    (tmp_path / "neuron").mkdir()
    for name in ("membrane.png", "rates.png"):
        (tmp_path / "neuron" / name).write_bytes(b"png")
    df = pd.DataFrame(columns=[*report.COLUMNS, "_dir"])
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    assert any(c.startswith("Membrane potential of one neuron of the checked") for c in figs)
    check = {"model": "equations/my_neuron.yaml"}
    (tmp_path / "neuron" / "lif_check.json").write_text(json.dumps(check))
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    assert "f-I curve of equations/my_neuron.yaml against theory" in figs
    assert any("one neuron of equations/my_neuron.yaml (" in c for c in figs), list(figs)


@pytest.mark.parametrize("directory", ["", "conv", "sensitivity"])
def test_committed_neuron_updates_are_priced_by_the_hand_counts(directory):
    """Every committed energy.csv (the default, conv and sensitivity reports) prices its neuron
    updates at the counts of their files by hand: lif.yaml at 5 ms 2 multiplies and 3 adds;
    STDP the mean of dc_exc_fast.yaml's 5 and 7 and dc_inh.yaml's 5 and 6 at 0.5 ms; a ReLU 0
    and 2; for as many updates as the rows' neurons and time steps (metrics.csv)."""
    d = RESULTS / directory
    table = pd.read_csv(d / "energy.csv")
    steps = pd.read_csv(d / "metrics.csv").set_index(["method", "network", "seed"])
    prices = {"stdp": (5, 6.5), "surrogate": (2, 3), "ann": (0, 2)}
    for _, r in table.iterrows():
        ops = prices[r["method"]]
        assert (r["neuron_multiplies"], r["neuron_adds"]) == ops
        cost = energy.PRECISIONS[r["precision"]]
        per_update = ops[0] * cost.multiply + ops[1] * cost.add
        assert r["neuron_nj"] == pytest.approx(r["neuron_updates"] * per_update * 1e-3, rel=1e-5)
        row = steps.loc[(r["method"], r["network"], r["seed"])]
        if r["method"] == "stdp":  # as many inhibitory neurons as excitatory, rest included
            assert r["neuron_updates"] == pytest.approx(2 * row["n"] * row["time_steps"])
        elif r["method"] == "surrogate":  # the twin's units (hidden and output), each step
            twin = table[(table["method"] == "ann") & (table["network"] == r["network"])]
            units = twin["neuron_updates"].iloc[0]
            assert r["neuron_updates"] == units * row["time_steps"] == units * 25


def test_diehl_cook_is_an_anchor_on_mnist_only(tmp_path):
    """A run on another data set (data.name: fashion-mnist) showed the paper's MNIST accuracy
    (82.9% at N=100) as its row's 'Diehl & Cook 2015' and in the accuracy-against-N figure, as
    if it were that run's target; it shows '–' and says why, and the figure leaves it out."""
    run = RESULTS / "stdp" / "cpp" / "n100" / "seed0"
    m = _json(run / "test" / "metrics.json")
    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    row = report._stdp_row(cfg, run / "test" / "metrics.json", m)
    assert row["anchor_accuracy"] == pytest.approx(0.829)
    cfg["data"]["name"] = "fashion-mnist"
    row = report._stdp_row(cfg, run / "test" / "metrics.json", m)
    assert np.isnan(row["anchor_accuracy"])
    notes = " ".join(report.results_notes(150.0, report.data_name(cfg)))
    assert "the paper's accuracies are on MNIST, and this data set is fashion-mnist" in notes
    assert "MNIST test accuracy for that N" in " ".join(report.results_notes(150.0, "mnist"))
    df = pd.DataFrame([_row(0, 0.85, n=100, _dir=run)], columns=[*report.COLUMNS, "_dir"])
    figs = report.make_figures(
        df, tmp_path, tmp_path / "figures", report.has_anchors(report.data_name(cfg))
    )
    assert "Test accuracy against N, mean over seeds" in figs
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    assert (
        "Test accuracy against N, mean over seeds (Diehl & Cook 2015: their passes per N)" in figs
    )


# Partial results: a run missing, or one that failed and left a broken metrics.json.


def _seeded_tree(root: Path, seeds=(0, 1, 2)) -> Path:
    """A results tree of the default configuration's runs with `seeds` (copies of the committed
    seed 0's metrics files, seed and accuracy varied) and the configuration file naming them."""
    import yaml

    runs = {
        "stdp/cpp/n100/seed{}/test": ("seed",),
        "surrogate/fc100/seed{}": ("config", "seed"),
        "ann/fc100/seed{}": ("config", "seed"),
    }
    for pattern, field in runs.items():
        for seed in seeds:
            m = _json(RESULTS / pattern.format(0) / "metrics.json")
            (m if len(field) == 1 else m[field[0]])[field[-1]] = seed
            m["accuracy"] = 0.8 + seed / 100
            (root / pattern.format(seed)).mkdir(parents=True)
            (root / pattern.format(seed) / "metrics.json").write_text(json.dumps(m))
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text()) | {"seeds": list(seeds)}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root / "config.yaml"


@pytest.mark.parametrize("method", ["stdp", "surrogate", "ann"])
@pytest.mark.parametrize("value", ["NaN", "null", "1.5"])
def test_a_run_whose_accuracy_is_not_a_share_is_refused_naming_it(tmp_path, capsys, method, value):
    """A seed whose metrics.json said accuracy NaN (or null: `json_text`'s NaN) dropped out of
    its network's mean and standard deviation while the row still counted it among its seeds:
    '3 | 84.51% ± 1.41', the mean of two."""
    from bioclf import tasks

    config = _seeded_tree(tmp_path)
    run = {"stdp": "stdp/cpp/n100/seed1/test", "surrogate": "surrogate/fc100/seed1"}
    path = tmp_path / run.get(method, "ann/fc100/seed1") / "metrics.json"
    path.write_text(re.sub(r'"accuracy": [^,}]+', f'"accuracy": {value}', path.read_text()))
    assert tasks.run(report.main, ["--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{path}: field 'accuracy': is {value}," in err
    assert not (tmp_path / "report.md").exists()


def test_a_truncated_metrics_file_is_refused_naming_it(tmp_path, capsys):
    """A run killed while writing (a truncated metrics.json): one line naming it, exit 2."""
    from bioclf import tasks

    config = _seeded_tree(tmp_path)
    path = tmp_path / "surrogate/fc100/seed2/metrics.json"
    path.write_text(path.read_text()[:200])
    assert tasks.run(report.main, ["--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(path) in err and "not JSON" in err


def test_a_row_over_fewer_seeds_than_configured_names_those_missing():
    """A configured seed without a metrics.json left its network's row reading '2' seeds, the
    mean of those found, with nothing near the table to say one was missing (only a line at
    the foot of the report)."""
    df = pd.DataFrame(
        [_row(0, 0.80), _row(2, 0.84), *(_row(s, 0.9, "surrogate", "FC") for s in (0, 1, 2))],
        columns=report.COLUMNS,
    )
    _, _, stdp, sur = report.summary_table(df, [0, 1, 2]).splitlines()
    assert "| 2 of 3 (seed 1 missing) | 82.00% ± 2.83 |" in stdp
    assert "| FC | 3 | 90.00% ± 0.00 |" in sur
    one = report.summary_table(df[df["seed"] == 0], [0, 1, 2]).splitlines()[2]
    assert "| 1 of 3 (seeds 1, 2 missing) | 80.00% |" in one
    # seeds outside the configured ones (--inputs): counted, no claim of missing ones
    assert "| 2 | 82.00%" in report.summary_table(df[df["method"] == "stdp"], [5]).splitlines()[2]


def test_configured_runs_without_metrics_are_named_under_the_table(tmp_path):
    """The ANN twins were not looked for at all; the others were listed only at the report's
    foot."""
    import yaml

    config = _seeded_tree(tmp_path)
    (tmp_path / "stdp/cpp/n100/seed1/test/metrics.json").unlink()
    (tmp_path / "ann/fc100/seed2/metrics.json").unlink()
    cfg = cfgmod.load(config)
    missing = [tmp_path / "stdp/cpp/n100/seed1/test", tmp_path / "ann/fc100/seed2"]
    assert report.missing_runs(cfg, tmp_path) == missing
    note = " ".join(report._missing_note(missing))
    assert note.startswith("**Incomplete: 2 configured runs have no metrics.json**")
    assert f"`{missing[0]}`, `{missing[1]}`" in note
    cfg = yaml.safe_load(config.read_text()) | {"ann": {"enabled": False}}
    assert report.missing_runs(cfg, tmp_path) == missing[:1]
    assert report._missing_note([]) == []


def test_a_brian2_mean_over_fewer_seeds_says_so():
    """A seed without its Brian2 export dropped out of the Brian2 column's mean, unsaid."""
    rows = [_row(s, 0.9, "surrogate", "FC", brian2_accuracy=b) for s, b in enumerate([0.8, 0.9])]
    df = pd.DataFrame([*rows, _row(2, 0.9, "surrogate", "FC")], columns=report.COLUMNS)
    assert "| 85.00% (2 of 3 seeds) |" in report.summary_table(df).splitlines()[2]
    assert "| 85.00% |" in report.summary_table(df.iloc[:2]).splitlines()[2]
    assert "| – |" in report.summary_table(df.iloc[2:]).splitlines()[2]


def test_the_anchor_note_says_what_an_n_without_a_paper_figure_gets():
    """The surrogate and ANN rows show '–' too, which the note put down to the N alone."""
    note = " ".join(report.results_notes(150))
    assert "for an STDP row, the paper's MNIST test accuracy for that N" in note
    assert (
        "'–' for an N the paper gives no figure for, and for the surrogate and ANN rows "
        "(the paper trains no such network)" in note
    )


def test_an_ann_metrics_file_that_lacks_a_field_is_refused_naming_it(tmp_path, capsys):
    """An ANN twin's metrics.json without 'operations' (written by an older version) ended the
    report in a KeyError traceback; the STDP and surrogate files' were already refused."""
    from bioclf import tasks

    config = _seeded_tree(tmp_path)
    path = tmp_path / "ann/fc100/seed1/metrics.json"
    path.write_text(json.dumps({k: v for k, v in _json(path).items() if k != "operations"}))
    assert tasks.run(report.main, ["--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{path}: has no field 'operations'" in err


def test_figures_over_several_seeds_say_mean_or_name_each_seed_legibly(tmp_path, monkeypatch):
    """With 3 seeds of 2 surrogate networks the accuracy-energy figure plotted each network's
    mean under a bare 'test accuracy', and the PyTorch-Brian2 figure squeezed 6 labels
    ('FC 784-20-10\\nseed 0', ...) into 5 inches, where they ran into one another."""
    from bioclf import plots

    saved = {}

    def keep(fig, path):
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        saved[Path(path).name] = (fig.axes[0].get_ylabel(), fig.get_figwidth(), labels)

    monkeypatch.setattr(plots, "_save", keep)
    energy_table = pd.DataFrame(
        {
            "method": "surrogate",
            "network": "FC",
            "precision": "fp32",
            "accuracy": [0.8, 0.9],
            "compute_nj": 1.0,
            "total_nj": 2.0,
        }
    )
    report_energy.figure(energy_table, tmp_path / "accuracy_vs_energy.png")
    assert saved["accuracy_vs_energy.png"][0] == "test accuracy (mean over seeds)"
    rows = [
        _row(s, 0.9, "surrogate", f"FC 784-{h}-10, latency code, T=25", n=h, _dir=tmp_path)
        | {"brian2_accuracy": 0.9, "brian2_pytorch_same_samples": 0.9, "brian2_n_samples": 200}
        for h in (20, 40)
        for s in range(3)
    ]
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [], "config": {}}))
    df = pd.DataFrame(rows, columns=[*report.COLUMNS, "_dir"])
    report.make_figures(df, tmp_path, tmp_path / "figures")
    _, width, labels = saved["torch_vs_brian2.png"]
    assert width >= 1.2 * len(rows)  # an inch and more per run
    assert labels[4] == "FC 784-40-10,\nlatency code,\nT=25\nseed 1"


def test_the_training_accuracy_caption_names_the_methods_drawn(tmp_path):
    """The smoke run's STDP runs (300 training images: no running estimate before 1,000) drew
    no curve, under a caption of 'both methods'."""
    d = tmp_path / "sur"
    d.mkdir()
    history = [{"epoch": 1, "train_accuracy": 0.2, "samples_per_second": 10, "seconds": 6}]
    (d / "metrics.json").write_text(json.dumps({"history": history, "config": {}}))
    df = pd.DataFrame(
        [_row(0, 0.4, n=20, _dir=tmp_path), _row(0, 0.3, "surrogate", "FC", n=20, _dir=d)],
        columns=[*report.COLUMNS, "_dir"],
    )
    figs = report.make_figures(df, tmp_path, tmp_path / "figures")
    caption = "Training accuracy over training samples, surrogate only (no STDP run has a "
    assert f"{caption}training-accuracy curve) (not the test set)" in figs


def test_stdp_rows_are_ordered_by_n_then_seed(tmp_path):
    """--inputs from a shell pattern (n100 before n20 before n40) ordered the table's rows."""
    m = _json(RESULTS / "stdp/cpp/n100/seed0/test/metrics.json")
    files = []
    for n, seed in ((100, 0), (20, 10), (20, 2), (40, 0)):
        path = tmp_path / f"stdp/cpp/n{n}/seed{seed}/test/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(m | {"n_exc": n, "seed": seed}))
        files.append(path)
    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    rows = report.stdp_rows(cfg, files)
    assert [(r["n"], r["seed"]) for r in rows] == [(20, 2), (20, 10), (40, 0), (100, 0)]
    table = report.summary_table(pd.DataFrame(rows, columns=report.COLUMNS)).splitlines()[2:]
    assert [line.split("|")[2].strip() for line in table] == [
        f"Diehl&Cook N={n}" for n in (20, 40, 100)
    ]
    assert [line.split("|")[5].strip() for line in table] == ["–", "–", "82.9%"]


def _lif_check(respected: bool) -> dict:
    """A lif_check.json of the analytic check on one backend."""
    return {
        "model": "equations/lif.yaml",
        "check": "analytic",
        "dt_s": 1e-5,
        "duration_s": 2.0,
        "theory": {"t_ref_s": 0.005, "rheobase_A": 1.3e-10},
        "backends": {
            "cpp": {
                "levels_above_rheobase": 12,
                "max_relative_rate_error": 2.4e-4,
                "silent_below_rheobase": True,
                "min_isi_s": 0.03376 if respected else 0.004,
                "refractory_respected": respected,
                "passed": respected,
                "current_nA": [0.0, 0.1235, 0.1365, 0.52],
            }
        },
        "pytorch": None,
        "passed": respected,
    }


@pytest.mark.parametrize("respected", [True, False])
def test_the_neuron_section_says_what_was_simulated_and_shows_the_refractory_check(respected):
    """The section printed 'min ISI 33.760 ms' with nothing to read it against and never said
    what was simulated: it names the file, currents, duration, dt and backends, and shows the
    shortest interval against t_ref with the check's verdict (refractory_respected)."""
    text = "\n".join(report.neuron_section(_lif_check(respected)))
    assert (
        "Simulated: one neuron of `equations/lif.yaml` per constant input current, 4 currents "
        "from 0 to 0.52 nA (rheobase 0.13 nA), 2 s each at dt 0.01 ms, on `cpp`" in text
    )
    verdict = "PASS" if respected else "FAIL (an interval is shorter)"
    isi = "33.760" if respected else "4.000"
    assert f"min ISI {isi} ms against the refractory period t_ref 5.000 ms: {verdict}" in text


def test_the_neuron_section_of_an_agreement_check_shows_the_refractory_verdict():
    """No closed form, so no t_ref in lif_check.json: the verdict is shown without it."""
    check = {
        "model": "adapting.yaml",
        "check": "agreement",
        "no_closed_form": "w",
        "backends": {
            "runtime": {
                "levels_firing": 8,
                "min_isi_s": 0.01,
                "refractory_respected": True,
                "same_spikes_as_runtime": True,
                "passed": True,
            }
        },
        "pytorch": None,
    }
    text = "\n".join(report.neuron_section(check))
    assert "min ISI 10.000 ms against the refractory period: PASS" in text
    assert "Simulated:" not in text  # (this file holds no currents, dt or duration)


def test_a_brian2_accuracy_on_other_images_than_the_test_accuracy_says_on_how_many():
    """The smoke report showed 19.20% (on 500 test images) beside a Brian2 accuracy of 15.00%
    (the export's 200) without a word on the counts; both cells say them where they differ."""
    extra = dict(n_test=500, brian2_accuracy=0.15, brian2_n_samples=200)
    df = pd.DataFrame([_row(0, 0.192, "surrogate", "FC", **extra)], columns=report.COLUMNS)
    row = report.summary_table(df).splitlines()[2]
    assert "| 19.20% (on 500 images) |" in row and "| 15.00% (on 200 images) |" in row, row
    df.loc[0, "brian2_n_samples"] = 500
    row = report.summary_table(df).splitlines()[2]
    assert "| 19.20% |" in row and "| 15.00% |" in row, row
    seeds = [_row(s, 0.192, "surrogate", "FC", **extra) for s in range(2)]
    df = pd.DataFrame(
        [*seeds, _row(2, 0.192, "surrogate", "FC", n_test=500)], columns=report.COLUMNS
    )
    row = report.summary_table(df).splitlines()[2]
    assert "| 15.00% (on 200 images; 2 of 3 seeds) |" in row, row
