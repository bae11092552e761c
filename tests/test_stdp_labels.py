"""Label assignment, vote and scoring (bioclf.stdp.labels, .scoring) on hand-made responses."""

import json
import re

import numpy as np
import pytest
from conftest import ROOT

from bioclf.errors import ConfigError, ResultFileError
from bioclf.stdp.labels import assign_labels, checked_assignment, confusion_matrix, predict
from bioclf.stdp.run import same_variables


def test_assignment_is_by_mean_response_per_class():
    """Means, not sums: class 0 has three samples and class 1 one, so neuron 0's total for
    class 0 (3) beats its single class-1 response (2) while its mean (1) does not. A neuron
    that never fires is unassigned (-1); classes without samples are never chosen."""
    labels = np.array([0, 0, 0, 1, 2])
    counts = np.array(
        [
            # n0 n1 n2 n3
            [1, 0, 0, 0],
            [1, 0, 0, 0],
            [1, 0, 0, 0],
            [2, 5, 0, 0],
            [0, 1, 0, 3],
        ]
    )
    np.testing.assert_array_equal(assign_labels(counts, labels, n_classes=4), [1, 1, -1, 2])


def test_vote_is_by_mean_count_of_each_class_neurons():
    """Class 0 has three weak neurons and class 1 one strong one: the summed count favours
    class 0 (3 > 2), the mean favours class 1 (1 < 2). Unassigned neurons (-1) never vote, and a
    class without neurons scores 0."""
    assignment = np.array([0, 0, 0, 1, -1])
    counts = np.array(
        [
            [1, 1, 1, 2, 9],  # means: class 0 1, class 1 2
            [3, 0, 0, 0, 9],  # class 0 1, class 1 0
            [0, 0, 0, 0, 9],  # nothing assigned fires: class 0 wins the tie at 0 (argmax)
        ]
    )
    np.testing.assert_array_equal(predict(counts, assignment, n_classes=3), [1, 0, 0])
    # Each class's own neurons only: class 1's mean (3) beats class 0's (2). Pooled with the
    # neurons of the classes above them, class 0's (2 + 3 + 0) / 3 would beat class 1's 3 / 2.
    np.testing.assert_array_equal(predict(np.array([[2, 3, 0]]), np.array([0, 1, 2]), 3), [1])


def test_assignment_and_vote_do_not_copy_the_counts_as_float():
    """The responses are uint16 (60,000 x 6400 of them at N=6400: 768 MB); a float64 copy of
    them was 3 GB more at the merge of assignment shards. Both steps now stay well under the
    size of such a copy, with the same results as on float counts."""
    import tracemalloc

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, size=(6000, 800), dtype=np.uint16)  # 9.6 MB; float64: 38 MB
    labels = rng.integers(0, 10, size=6000)
    float_copy = counts.size * 8
    tracemalloc.start()
    try:
        assignment = assign_labels(counts, labels)
        _, peak_assign = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        predicted = predict(counts, assignment)
        _, peak_predict = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_assign < float_copy / 2 and peak_predict < float_copy / 2
    as_float = counts.astype(float)
    np.testing.assert_array_equal(assignment, assign_labels(as_float, labels))
    np.testing.assert_array_equal(predicted, predict(as_float, assignment))


def test_assignment_metrics_count_the_neurons_of_each_class(tmp_path):
    """``assign_metrics.json``'s neurons per class (class 0 included) and silent neurons."""
    from bioclf.stdp.frozen import write_assignment

    labels = np.array([0, 1, 2])
    counts = np.array([[4, 3, 0, 0, 0], [0, 1, 0, 2, 0], [0, 0, 5, 0, 0]], dtype=np.uint16)
    assignment = write_assignment(tmp_path, counts, np.zeros(3), labels, 1.0, "run")
    np.testing.assert_array_equal(assignment, [0, 0, 2, 1, -1])
    metrics = json.loads((tmp_path / "assign_metrics.json").read_text())
    assert metrics["neurons_per_class"] == [2, 1, 1] + [0] * 7
    assert metrics["silent_neurons"] == 1


def test_confusion_matrix_counts_true_by_predicted():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), n_classes=3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize(
    "assignment, reason",
    [
        (np.array([0.0, 1.0, 9.0]), "expected class labels (integers), found float64"),
        (np.array([0, 10, 3]), "found 10"),
        (np.array([0, -2, 3]), "found -2"),
    ],
)
def test_an_assignment_that_is_not_class_labels_is_refused(assignment, reason):
    """Before: an --assignment of floats (a theta.npy) or labels outside 0-9 voted anyway and
    gave a wrong accuracy with exit status 0."""
    with pytest.raises(ResultFileError, match=re.escape(reason)):
        checked_assignment(assignment, "a.npy")
    ok = np.array([-1, 0, 9])
    assert checked_assignment(ok, "a.npy") is ok


def test_a_state_of_another_network_size_is_refused_naming_the_arrays():
    """Before: same_variables compared names only, so a state.npz of another --n-exc (or a
    train_metrics.json of another training) ran into an IndexError traceback in the network."""
    initial = {"exc.v": np.zeros(7), "s_in.w": np.zeros(784 * 7)}
    state = {"exc.v": np.zeros(5), "s_in.w": np.zeros(784 * 5)}
    with pytest.raises(ResultFileError, match=r"s_in.w \(3920,\) \(this network: \(5488,\)\)"):
        same_variables(state, initial, "state.npz", "variables")
    same = {k: v + 1 for k, v in initial.items()}
    assert same_variables(same, initial, "state.npz", "variables") is same


def test_a_state_that_does_not_fit_is_a_result_file_not_a_configuration():
    """Before: a trained state.npz of other variables was reported as 'configuration
    state.npz: ...', though a training wrote it; it is a result file, named with its field."""
    initial = {"exc.v": np.zeros(7)}
    with pytest.raises(ResultFileError) as err:
        same_variables({"exc.theta": np.zeros(7)}, initial, "run/state.npz", "variables")
    assert not isinstance(err.value, ConfigError)
    assert str(err.value).startswith("run/state.npz: field 'variables': variables differ")


def test_scoring_counts_the_cost_of_an_inference_by_hand(tmp_path):
    """metrics.json's figures from hand-made test responses. Each input spike reaches the N
    excitatory neurons, each excitatory spike its one inhibitory partner, each inhibitory
    spike the N - 1 others, at 0.9 pJ a synaptic operation; the committed results were checked
    against this formula only, never the code that writes it."""
    from bioclf import config as cfgmod
    from bioclf.stdp import scoring

    cfg = cfgmod.load(ROOT / "config" / "smoke.yaml")  # 350 ms shown + 150 ms rest, dt 0.5 ms
    counts = np.array([[3, 0, 0, 1], [0, 2, 0, 0], [0, 0, 5, 0]], dtype=np.uint16)
    rec = {
        "labels": np.array([0, 1, 1]),
        "counts": counts,
        "reps": np.array([0, 2, 1]),
        "spikes": np.array([3000.0, 30.0, 12.0]),  # input, exc, inh over the 3 samples
        "wall_time_s": 0.6,
    }
    trained = {"n_exc": 4, "seed": 7, "backend": "runtime"}
    info = {"n_assign": 10, "neurons_per_class": [1, 1, 2]}
    m = scoring.score(cfg, trained, np.array([0, 1, 2, 2]), info, rec, tmp_path)
    # votes 0, 1, 2 (class 2's mean 2.5 beats class 1's 0) for labels 0, 1, 1
    assert m["accuracy"] == pytest.approx(2 / 3) and m["confusion"][1][:3] == [0, 1, 1]
    assert m["spikes_per_inference"] == {"input": 1000.0, "exc": 10.0, "inh": 4.0}
    synops = 1000 * 4 + 10 * 1 + 4 * 3
    assert m["synops_per_inference"] == synops
    assert m["energy_per_inference_nj"] == pytest.approx(synops * 0.9e-3, rel=1e-12)
    assert m["presentations_per_inference"] == 2.0  # 1 + mean repeats (0, 2, 1)
    assert m["time_steps_per_presentation"] == 1000 and m["latency_time_steps"] == 700
    assert m["inference_ms_per_sample"] == 200.0
    assert json.loads((tmp_path / "metrics.json").read_text())["synops_per_inference"] == synops


def test_assign_ends_with_a_line_of_neurons_per_class(tmp_path, monkeypatch, capsys):
    """bioclf.stdp.assign printed nothing at the end (evaluate ends with its accuracy): it ends
    with the neurons per class and the silent ones, on how many samples; a shard, which
    assigns nothing, with the samples it simulated."""
    from bioclf.stdp import assign, frozen

    calls = []

    def fake_assign(cfg, trained, out, n, shard):
        calls.append((n, shard))
        return None if shard else np.array([0, 1, 1, -1, 9, 3])

    monkeypatch.setattr(frozen, "assign", fake_assign)
    argv = ["--trained", str(tmp_path / "t"), "--out", str(tmp_path / "a"), "--n-assign", "1000"]
    assert assign.main(argv) == 0
    assert capsys.readouterr().err == (
        "assigned 5 of 6 neurons from 1000 training samples, per class 0-9: "
        "1, 2, 0, 1, 0, 0, 0, 0, 0, 1; 1 silent (no spike to any sample)\n"
    )
    assert assign.main([*argv, "--shard", "1", "--shards", "2"]) == 0
    assert capsys.readouterr().err.startswith(
        "shard 1 of 2: responses to training samples 500 to 999 of 1000 written; "
    )
    assert calls == [(1000, None), (1000, (1, 2))]
