"""``bioclf <task> [options]``: one entry point for the ``python -m bioclf.<task>`` modules."""

from __future__ import annotations

import importlib
import sys

TASKS = {
    "neuron-check": "bioclf.neuron_check",
    "data-check": "bioclf.data.check",
    "stdp-train": "bioclf.stdp.train",
    "stdp-assign": "bioclf.stdp.assign",
    "stdp-evaluate": "bioclf.stdp.evaluate",
    "stdp-raster": "bioclf.stdp.raster",
    "surrogate-train": "bioclf.surrogate.train",
    "surrogate-export": "bioclf.surrogate.export_brian",
    "report": "bioclf.report",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in TASKS:
        print("usage: bioclf <task> [options]   (bioclf <task> --help for its options)\n")
        print(
            "tasks:\n" + "\n".join(f"  {name:18s} python -m {mod}" for name, mod in TASKS.items())
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(TASKS[argv[0]])
    sys.argv = [f"bioclf {argv[0]}", *argv[1:]]
    from bioclf import tasks

    return tasks.run(module.main, argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
