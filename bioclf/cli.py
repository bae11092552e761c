"""``bioclf <task> [options]``: one entry point for the ``python -m bioclf.<module>`` tasks.

``bioclf`` alone lists the tasks, each with the first line of its module's docstring;
``bioclf <task> --help`` gives its options. ``bioclf <task> ...`` and
``python -m <module> ...`` are the same command.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

#: Task name -> module whose ``main(argv)`` runs it.
TASKS = {
    "config-check": "bioclf.config_check",
    "data-check": "bioclf.data.check",
    "neuron-check": "bioclf.neuron_check",
    "stdp-train": "bioclf.stdp.train",
    "stdp-assign": "bioclf.stdp.assign",
    "stdp-respond": "bioclf.stdp.respond",
    "stdp-evaluate": "bioclf.stdp.evaluate",
    "stdp-merge": "bioclf.stdp.merge",
    "stdp-raster": "bioclf.stdp.raster",
    "surrogate-train": "bioclf.surrogate.train",
    "surrogate-evaluate": "bioclf.surrogate.evaluate",
    "surrogate-export": "bioclf.surrogate.export_brian",
    "confusion-figure": "bioclf.confusion_figure",
    "report": "bioclf.report",
    "report-coding": "bioclf.report_coding",
    "readme-table": "bioclf.readme_table",
}


def summary(module: str) -> str:
    """First line of `module`'s docstring, read without importing it (brian2, torch: slow)."""
    origin = importlib.util.find_spec(module).origin
    doc = ast.get_docstring(ast.parse(Path(origin).read_text())) or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def usage() -> str:
    lines = [
        "usage: bioclf <task> [options]   (bioclf <task> --help for its options)",
        "",
        "tasks:",
    ]
    width = max(map(len, TASKS))
    for name, module in TASKS.items():
        lines.append(f"  {name:{width}s}  {summary(module)}")
        lines.append(f"  {'':{width}s}  (python -m {module})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in TASKS:
        print(f"{usage()}\n\nerror: unknown task {argv[0]!r}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(TASKS[argv[0]])
    except KeyboardInterrupt:  # Ctrl-C while brian2 or torch loads (seconds), before the task
        print("interrupted", file=sys.stderr)
        return 130
    sys.argv = [f"bioclf {argv[0]}", *argv[1:]]
    from bioclf import tasks

    return tasks.run(module.main, argv[1:], getattr(module, "RESUMES", False))


if __name__ == "__main__":
    raise SystemExit(main())
