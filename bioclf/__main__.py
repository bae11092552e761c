"""``python -m bioclf [<task> [options]]``: the ``bioclf`` command (`bioclf.cli`), for an
environment whose scripts are not on the PATH."""

from bioclf.cli import main

raise SystemExit(main())
