"""Check configuration files as ``snakemake --configfile`` merges them, naming file and key.

Snakemake reads the files of ``--configfile`` itself, before the workflow's checks run, and
refuses a missing, empty or malformed one in its own words, mostly without the file's name.
This task reads each file the way the tasks do (a YAML error is given with its file, line and
column, a key given twice with its two lines), merges them as Snakemake does (later files
override earlier ones, section by section) and checks the values as every workflow start does
(`bioclf.config.validate`: the schema, the quantities, the model files named, the sample counts,
schedules, shards and sweeps; `bioclf.config.check_command_paths`: a path the jobs' commands
take as it is). The model files' equations and the data set are checked by ``snakemake -n`` as well.
"""

from __future__ import annotations

import argparse

from snakemake.utils import update_config

from bioclf import config, tasks
from bioclf.tasks import DEFAULT_CONFIG


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=tasks.prog(), description=__doc__.splitlines()[0].replace("``", "")
    )
    p.add_argument(
        "files",
        nargs="*",
        default=[DEFAULT_CONFIG],
        metavar="FILE",
        help=f"configuration files, as given to snakemake --configfile (default: {DEFAULT_CONFIG})",
    )
    args = p.parse_args(argv)
    merged: dict = {}
    for path in args.files:
        update_config(merged, config.read(path))
    name = " + ".join(str(f) for f in args.files)
    config.validate(merged, name)
    config.check_command_paths(merged, name)
    print(f"{name}: valid (snakemake -n checks the model files' equations and the data as well)")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
