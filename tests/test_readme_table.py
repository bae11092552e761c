"""The README's results table is generated from the committed results and cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioclf import readme_table
from bioclf.errors import ConfigError, ResultFileError

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = "method,network,n,seed,backend,accuracy,anchor_accuracy,brian2_accuracy\n"


def test_readme_table_matches_the_committed_results():
    results = ROOT / "results"
    block = readme_table.table(
        results / "metrics.csv", results / "targets.csv", results / "other_runs.csv"
    )
    readme = (ROOT / "README.md").read_text()
    assert readme_table.replace_block(readme, block, ROOT / "README.md") == readme, (
        "README.md's results table is out of date: run `make readme`"
    )
    assert readme_table.main(["--readme", str(ROOT / "README.md"), "--check"]) == 0


def test_mean_over_seeds_per_network_new_methods_and_rows_without_accuracy(tmp_path):
    """Over several seeds the row gave the best alone ("**86.31%**, best of 2 runs"): a best
    of N reads as what one run gives. The mean, then every seed's value, seeds in numeric
    order."""
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        COLUMNS
        + "stdp,Diehl&Cook N=100,100,10,cpp,0.8564,0.829,0.8564\n"
        + "stdp,Diehl&Cook N=100,100,2,cpp,0.8631,0.829,0.8631\n"
        + "stdp,Diehl&Cook N=100,100,0,cpp,0.8500,0.829,0.8500\n"
        + "ann,MLP 784-100-10,100,0,torch-cpu,0.981,,\n"
        + "latency,sweep,100,0,cpp,,,\n"
    )
    targets = tmp_path / "targets.csv"
    targets.write_text("method,network,target\nstdp,Diehl&Cook N=100,0.85\n")
    others = tmp_path / "other_runs.csv"
    others.write_text('what,figure,target,anchor,command\n"a, b",**1%**,,,`cmd | x`\n')
    lines = readme_table.table(metrics, targets, others).splitlines()
    assert len(lines) == 2 + 3
    assert "| **85.65%** mean of 3 seeds (85 / 86.31 / 85.64%, seeds 0 / 2 / 10) |" in lines[2]
    assert "best" not in lines[2]
    assert "≥ 85%" in lines[2] and "82.9%" in lines[2]
    assert lines[3].startswith("| ANN, MLP 784-100-10") and "**98.1%**" in lines[3]
    assert lines[4] == "| a, b | **1%** | — | — | `cmd \\| x` |"


def test_brian2_row_over_the_seeds_that_ran_in_brian2(tmp_path):
    """The Brian2 row gave the Brian2 accuracy of the best PyTorch seed, against that seed's
    PyTorch accuracy, whatever the other seeds gave."""
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        COLUMNS
        + "surrogate,FC 784-100-10,100,0,torch-cpu,0.9775,,0.9770\n"
        + "surrogate,FC 784-100-10,100,1,torch-cpu,0.9790,,0.9780\n"
        + "surrogate,FC 784-100-10,100,2,torch-cpu,0.9700,,\n"
    )
    lines = readme_table.table(metrics, tmp_path / "t.csv", tmp_path / "o.csv").splitlines()
    assert "**97.55%** mean of 3 seeds (97.75 / 97.9 / 97%, seeds 0 / 1 / 2)" in lines[2]
    assert lines[3] == (
        "| the same trained network run in Brian2 (FC 784-100-10) | **97.75%** mean of 2 seeds "
        "(97.7 / 97.8%, seeds 0 / 1) | within 1 point of 97.83% | — | `make reproduce` |"
    )


def test_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no table here\n")
    with pytest.raises(ConfigError, match="results-table:start"):
        readme_table.replace_block(readme.read_text(), "| x |", readme)
    block = readme_table.replace_block(
        f"a\n{readme_table.START}\nold\n{readme_table.END}\nb\n", "new", readme
    )
    assert block == f"a\n{readme_table.START}\nnew\n{readme_table.END}\nb\n"


def test_a_row_with_more_fields_than_columns_is_refused(tmp_path):
    others = tmp_path / "other_runs.csv"
    others.write_text(
        "what,figure,target,anchor,command\n"
        "STDP N=400,**88.44%** best (87.94 / 88.44%, seeds 0 / 1),—,87.0%,`cmd`\n"
    )
    with pytest.raises(ConfigError, match=r"line 2.*6 fields for 5 columns"):
        readme_table.table(tmp_path / "metrics.csv", tmp_path / "targets.csv", others)


@pytest.mark.parametrize(
    "figure",
    [
        "**88.44%** best (87.94 / 88.44%, seeds 0 / 1)",
        " **98.60%** (best of 3 seeds)",
        # the form this table gave a network of several seeds before 18b5daa (passed the check)
        "**86.31%**, best of 2 runs (seeds 0, 1)",
        "**97.84%** \u2013 best of 3 seeds",
        "**best: 97.84%** (97.84 / 97.83 / 97.64%)",
    ],
)
def test_an_other_run_headlined_by_its_best_seed_is_refused(tmp_path, figure):
    """other_runs.csv headlined rows by their best seed ('**97.84%** best (...)') beside rows
    headlined by the mean: the mean leads, then every seed's figure."""
    others = tmp_path / "other_runs.csv"
    others.write_text(f'what,figure,target,anchor,command\nrow,"{figure}",—,—,`cmd`\n')
    with pytest.raises(ConfigError, match=r"line 2.*'figure'.*best over runs"):
        readme_table.table(tmp_path / "metrics.csv", tmp_path / "targets.csv", others)
    others.write_text(
        "what,figure,target,anchor,command\n"
        'row,"**88.19%** mean of 2 seeds (87.94 / 88.44%; best 88.44%)",—,—,`cmd`\n'
    )
    assert "**88.19%** mean" in readme_table.table(tmp_path / "m.csv", tmp_path / "t.csv", others)


def test_results_of_another_configuration_are_refused(tmp_path):
    """`make smoke` then `make readme` would have printed the smoke run's numbers as the
    default run's."""
    report = tmp_path / "report.md"
    report.write_text("## Provenance\n\n- configuration: `/work/x/config/config.yaml` (below)\n")
    readme_table.check_default_configuration(report)  # the default, in another checkout
    report.write_text("## Provenance\n\n- configuration: `config/smoke.yaml` (below)\n")
    with pytest.raises(ConfigError, match="comes from config/smoke.yaml"):
        readme_table.check_default_configuration(report)
    readme_table.check_default_configuration(tmp_path / "absent.md")  # nothing to check


def _sources(tmp_path):
    """A results directory with one row per source, and a README with an old table."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "metrics.csv").write_text(COLUMNS + "ann,MLP 784-100-10,100,0,torch-cpu,0.981,,\n")
    (results / "targets.csv").write_text("method,network,target\n")
    (results / "other_runs.csv").write_text("what,figure,target,anchor,command\na,b,,,c\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{readme_table.START}\nold\n{readme_table.END}\n")
    return results, readme


@pytest.mark.parametrize("missing", ["metrics.csv", "targets.csv", "other_runs.csv", "README.md"])
def test_a_missing_source_is_refused_and_the_readme_left_alone(tmp_path, missing):
    """`--results` naming a directory without the results (a typo, a clone without them) wrote
    an empty table over the README's and said it had updated it."""
    results, readme = _sources(tmp_path)
    text = readme.read_text()
    (tmp_path / missing if missing == "README.md" else results / missing).unlink()
    with pytest.raises(ResultFileError, match=f"{missing}: not found"):
        readme_table.main(["--readme", str(readme), "--results", str(results)])
    assert missing == "README.md" or readme.read_text() == text


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("metrics.csv", 'garbage,,"\n', "field 'method': column missing \\(header"),
        ("metrics.csv", "", "field 'method': empty file"),
        ("targets.csv", "", "field 'method': empty file"),
        ("other_runs.csv", "what,figure\n", "field 'target': column missing \\(header"),
    ],
)
def test_a_source_without_its_columns_is_refused_and_the_readme_left_alone(
    tmp_path, name, text, reason
):
    """A source whose header lacked the columns but that had no data rows (an empty file, a
    broken header) passed the per-row check: the README was rewritten without its rows."""
    results, readme = _sources(tmp_path)
    readme_table.main(["--readme", str(readme), "--results", str(results)])
    before = readme.read_text()
    assert "MLP 784-100-10" in before
    (results / name).write_text(text)
    with pytest.raises(ConfigError, match=f"{name}: {reason}"):
        readme_table.main(["--readme", str(readme), "--results", str(results)])
    assert readme.read_text() == before
