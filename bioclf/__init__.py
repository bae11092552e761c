"""bioclf: spiking-network classifiers trained by STDP (Brian2) and surrogate gradients (PyTorch).

Both sides use the neuron models of ``equations/``.
"""

import sys

__version__ = "0.1.0"


def _interrupted(kind, value, traceback, default=sys.excepthook):
    """A Ctrl-C before a task has started (`bioclf.tasks.run` reports those after), while its
    modules are imported (brian2, torch: seconds), ends it in one line, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:
        default(kind, value, traceback)


# ``python -m bioclf.<task>`` imports this package while sys.argv[0] is "-m" (Python's
# documentation of -m); a program that imports bioclf otherwise keeps its own excepthook.
if getattr(sys, "argv", [])[:1] == ["-m"]:
    sys.excepthook = _interrupted
