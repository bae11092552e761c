"""Label assignment and voting (Diehl & Cook 2015).

Each excitatory neuron is assigned the class for which its mean response (spikes per sample)
is highest; a sample is classified as the class whose assigned neurons respond most on average.
Assignments must come from training data, never from the samples being classified.
"""

from __future__ import annotations

import numpy as np

from bioclf.errors import ResultFileError

N_CLASSES = 10


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Class of each neuron: argmax over classes of its mean spike count.

    Parameters
    ----------
    counts : (n_samples, n_neurons)
    labels : (n_samples,)

    Returns
    -------
    (n_neurons,) int; -1 for a neuron that never fired.
    """
    # Summed as float64 one class at a time, not converted whole: a float64 copy of the
    # 60,000 x 6400 counts of N=6400 is 3 GB. Sums of integers are exact, so the means are
    # what converting first gives.
    counts = np.asarray(counts)
    labels = np.asarray(labels)
    mean = np.zeros((n_classes, counts.shape[1]))
    for c in range(n_classes):
        members = labels == c
        if members.any():
            mean[c] = counts[members].sum(axis=0, dtype=np.float64) / members.sum()
    assignment = mean.argmax(axis=0)
    assignment[mean.max(axis=0) == 0] = -1
    return assignment


def checked_assignment(assignment: np.ndarray, path, n_classes: int = N_CLASSES) -> np.ndarray:
    """`assignment` read from `path`, refused (`ResultFileError`) unless it holds class labels
    (integers 0 to `n_classes` - 1, or -1): another 1-D array (a neuron's theta, predictions)
    would otherwise vote with arbitrary classes and give a silently wrong accuracy."""
    if not np.issubdtype(assignment.dtype, np.integer):
        raise ResultFileError(path, f"expected class labels (integers), found {assignment.dtype}")
    outside = assignment[(assignment < -1) | (assignment >= n_classes)]
    if outside.size:
        raise ResultFileError(
            path,
            f"expected class labels 0 to {n_classes - 1} (-1: never fired), found {outside[0]}",
        )
    return assignment


def predict(counts: np.ndarray, assignment: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Class whose assigned neurons have the highest mean count, per sample.

    Classes without assigned neurons score 0, as in the original code.
    """
    counts = np.asarray(counts)  # summed per class as float64, not copied whole (assign_labels)
    scores = np.zeros((counts.shape[0], n_classes))
    for c in range(n_classes):
        members = assignment == c
        if members.any():
            scores[:, c] = counts[:, members].sum(axis=1, dtype=np.float64) / members.sum()
    return scores.argmax(axis=1)


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true), np.asarray(pred)), 1)
    return matrix
