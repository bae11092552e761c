"""Draw a confusion matrix saved as .npy (rows: true class, columns: predicted) as a figure.

    python -m bioclf.confusion_figure --confusion DIR/confusion.npy --title "surrogate fc100" \
        --out DIR/confusion.png
"""

from __future__ import annotations

from bioclf import tasks
from bioclf.io import load_arrays


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
    matrix = load_arrays(args.confusion, ndim=2)
    from bioclf import plots  # matplotlib: only once the options are right

    plots.confusion(matrix, args.out, title=args.title)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
