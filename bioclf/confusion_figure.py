"""Draw a confusion matrix saved as .npy (rows: true class, columns: predicted) as a figure.

    python -m bioclf.confusion_figure --confusion DIR/confusion.npy --title "surrogate fc100" \
        --out DIR/confusion.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf import tasks
from bioclf.data.datasets import N_CLASSES
from bioclf.errors import ResultFileError
from bioclf.io import load_arrays


def counts(matrix: np.ndarray, path: str | Path) -> np.ndarray:
    """`matrix`, read from `path`, as the int64 counts it must hold.

    Raises
    ------
    ResultFileError
        Naming `path`: not (N_CLASSES, N_CLASSES), not numbers, or a count that is negative,
        NaN, infinite or fractional (a matrix of something else, which would be drawn as if
        it were counts, with an accuracy and n computed from it).
    """
    shape = (N_CLASSES, N_CLASSES)
    if matrix.shape != shape:
        raise ResultFileError(
            path, f"expected a confusion matrix of shape {shape}, found {matrix.shape}"
        )
    if matrix.dtype.kind not in "iuf":  # (not booleans, complex numbers or text)
        raise ResultFileError(path, f"expected counts (integers), found {matrix.dtype} values")
    bad = ~np.isfinite(matrix) | (matrix < 0) | (matrix != np.round(matrix))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ResultFileError(
            path,
            f"expected counts (non-negative integers), found {matrix[r, c]} in row {r}, "
            f"column {c} ({int(bad.sum())} such value(s))",
        )
    return matrix.astype(np.int64)


def main(argv=None) -> int:
    p = tasks.parser(
        __doc__.splitlines()[0],
        out_help="the figure file (.png, .pdf, .svg)",
        config=False,
        out_file=True,
    )
    p.add_argument(
        "--confusion",
        required=True,
        type=tasks.Path,
        help="confusion matrix, .npy of shape (10, 10): counts, rows true, columns predicted",
    )
    p.add_argument("--title", default="", help="title of the figure (default: none)")
    args = p.parse_args(argv)
    matrix = counts(load_arrays(args.confusion, ndim=2), args.confusion)
    from bioclf import plots  # matplotlib: only once the options are right

    plots.confusion(matrix, args.out, title=args.title)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
