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


class _NoMatplotlibInBrian2(MetaPathFinder):
    """Brian2 imports matplotlib as it initialises, for nothing bioclf uses: its ``__init__``
    runs ``from pylab import *`` to put numpy's and matplotlib's names at its top level, and
    ``brian2.units`` imports matplotlib to see whether it is version 1.3.1. That costs ~0.5 s
    of CPU in every process that imports Brian2 (each Snakemake call, each job). While Brian2
    initialises, those two imports by Brian2's own modules are reported missing, and Brian2
    takes numpy's names alone (its own fallback where matplotlib is not installed). Any other
    import of pylab or matplotlib, by another module or later, is untouched."""

    def find_spec(self, name, path=None, target=None):
        if name in ("pylab", "matplotlib"):
            spec = getattr(sys.modules.get("brian2"), "__spec__", None)
            # (_initializing: set by importlib while a module's code runs)
            if getattr(spec, "_initializing", False) and _importer().startswith("brian2"):
                raise ImportError(f"{name} is not imported for Brian2 (bioclf/__init__.py)")
        return None


def _importer() -> str:
    """The name of the module whose code is importing (the first frame outside importlib)."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_globals.get("__name__") == __name__  # (find_spec's own frame)
    ):
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


if not any(isinstance(f, _NoMatplotlibInBrian2) for f in sys.meta_path):
    sys.meta_path.insert(0, _NoMatplotlibInBrian2())
