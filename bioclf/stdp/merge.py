"""Join the shards of label assignment or of the test responses into the whole run's files.

    python -m bioclf.stdp.merge --what assign --out DIR/assign SHARD_DIR...
    python -m bioclf.stdp.merge --what respond --out DIR/test SHARD_DIR...

The shard directories are the --out of ``python -m bioclf.stdp.assign`` / ``respond`` run with
``--shard k --shards K``, given in the order of k. Writes what the unsharded task writes
(``assignment.npy``, ``assign_metrics.json``, ``assign_records.npz``; ``responses.npz``), with
the wall times of the shards summed. Shards that are not together exactly the samples of one
run, each once and in order (one missing, repeated or out of place, one of another trained
network or other settings), are refused naming the file (`bioclf.stdp.shards.concatenate`).
The merged files record the shards' run (``run``, in ``responses.npz``, ``assign_records.npz``
and ``assign_metrics.json``), the same as the unsharded run's, which `bioclf.stdp.evaluate`
checks. The work is done by `bioclf.stdp.frozen`. Ends with one line on stderr: the neurons
assigned to each class (the line `bioclf.stdp.assign` ends with), or how many test responses
were joined from how many shards.
"""

from __future__ import annotations

import sys

from bioclf import tasks
from bioclf.io import load_json
from bioclf.stdp import assign, frozen


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0], config=False)
    p.add_argument(
        "--what",
        required=True,
        choices=["assign", "respond"],
        help="which task's shards: label assignment or test responses",
    )
    p.add_argument(
        "parts", nargs="+", type=tasks.Path, help="the shards' output directories, in order"
    )
    args = p.parse_args(argv)
    if args.out.resolve() in {part.resolve() for part in args.parts}:  # its file over a shard's
        p.error(f"--out must differ from the shards' directories ({args.out} is one)")
    if args.what == "assign":
        assignment = frozen.merge_assign(args.parts, args.out)
        n_assign = load_json(args.out / "assign_metrics.json")["n_assign"]
        line = assign.summary(assignment, n_assign)
    else:
        n_test = len(frozen.merge_responses(args.parts, args.out)["labels"])
        line = (
            f"joined the responses to {tasks.counted(n_test, 'test sample')} from "
            f"{tasks.counted(len(args.parts), 'shard')}"
        )
    print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
