"""bioclf: spiking-network classifiers trained by STDP (Brian2) and surrogate gradients (PyTorch).

Both sides use the neuron models of ``equations/``.
"""

import sys
from importlib.abc import MetaPathFinder

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


class _NoPylabInBrian2(MetaPathFinder):
    """Brian2's ``__init__`` runs ``from pylab import *`` only to put numpy's and matplotlib's
    names at its top level, which bioclf never reads; pyplot costs ~0.3 s of CPU in every
    process that imports Brian2 (each Snakemake call, each job). While Brian2 initialises,
    pylab is reported missing, and Brian2 takes numpy's names alone (its own fallback where
    matplotlib is not installed). Any other import of pylab, before or after, is untouched."""

    def find_spec(self, name, path=None, target=None):
        if name == "pylab":
            spec = getattr(sys.modules.get("brian2"), "__spec__", None)
            if getattr(spec, "_initializing", False):  # (set by importlib while it runs)
                raise ImportError("pylab is not imported for Brian2 (bioclf/__init__.py)")
        return None


if not any(isinstance(f, _NoPylabInBrian2) for f in sys.meta_path):
    sys.meta_path.insert(0, _NoPylabInBrian2())
