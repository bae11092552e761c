"""Label assignment and vote (bioclf.stdp.labels) on hand-made responses."""

import re

import numpy as np
import pytest

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
    with pytest.raises(ConfigError, match=r"s_in.w \(3920,\) \(this network: \(5488,\)\)"):
        same_variables(state, initial, "state.npz", "variables")
    same = {k: v + 1 for k, v in initial.items()}
    assert same_variables(same, initial, "state.npz", "variables") is same
