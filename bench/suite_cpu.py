"""Where the test suite's CPU time goes: wall and CPU time per test, and Snakemake starts.

    python bench/suite_cpu.py --out bench/out/suite_cpu.tsv -- -q tests/test_pipeline.py

Runs pytest in this process with a plugin that takes ``getrusage`` of the process and of its
children (finished subprocesses: Snakemake, its jobs, compilers) around each test, and counts
the subprocesses that start Snakemake (through ``subprocess.run``). Writes one line per test
to ``--out`` (tab-separated: test, wall s, CPU s of pytest's process, CPU s of children,
Snakemake starts, their wall s) and prints the totals by file and the tests of most CPU.

A background process still running when a test ends (the CUDA build that ``conftest.py``
starts) is counted when it is waited for, at the end of the session, not in any test.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

COLUMNS = ("test", "wall_s", "cpu_self_s", "cpu_children_s", "snakemake_starts", "snakemake_s")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class CpuPerTest:
    """The pytest plugin: one row per test, in `rows`."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.starts, self.start_s = 0, 0.0
        self._run = subprocess.run

        def run(cmd, *args, **kwargs):  # counts the Snakemake starts, as the tests make them
            words = cmd if isinstance(cmd, (list, tuple)) else [cmd]
            snakemake = any("snakemake" in str(w) for w in words[:3])
            t = time.perf_counter()
            try:
                return self._run(cmd, *args, **kwargs)
            finally:
                if snakemake:
                    self.starts += 1
                    self.start_s += time.perf_counter() - t

        subprocess.run = run

    def pytest_runtest_logstart(self, nodeid, location):
        self._begin = (
            time.perf_counter(),
            _cpu(resource.RUSAGE_SELF),
            _cpu(resource.RUSAGE_CHILDREN),
            self.starts,
            self.start_s,
        )

    def pytest_runtest_logfinish(self, nodeid, location):
        wall, own, children, starts, start_s = self._begin
        self.rows.append(
            (
                nodeid,
                time.perf_counter() - wall,
                _cpu(resource.RUSAGE_SELF) - own,
                _cpu(resource.RUSAGE_CHILDREN) - children,
                self.starts - starts,
                self.start_s - start_s,
            )
        )


def summary(rows: list[tuple], top: int) -> str:
    """Totals by test file, then the `top` tests of most CPU (own + children)."""
    by_file: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for test, wall, own, children, _, _ in rows:
        total = by_file[test.split("::")[0]]
        total[0] += wall
        total[1] += own
        total[2] += children
    lines = [f"{'wall s':>8} {'CPU s':>8}  file"]
    for name, (wall, own, children) in sorted(by_file.items(), key=lambda kv: -sum(kv[1][1:])):
        lines.append(f"{wall:8.1f} {own + children:8.1f}  {name}")
    starts = sum(r[4] for r in rows)
    lines.append(
        f"{sum(r[1] for r in rows):8.1f} {sum(r[2] + r[3] for r in rows):8.1f}  all "
        f"{len(rows)} tests; {starts} Snakemake starts, {sum(r[5] for r in rows):.1f} s"
    )
    lines.append(f"\n{'wall s':>8} {'CPU s':>8} {'starts':>6}  test")
    for test, wall, own, children, n, _ in sorted(rows, key=lambda r: -(r[2] + r[3]))[:top]:
        lines.append(f"{wall:8.1f} {own + children:8.1f} {n:6d}  {test}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Arguments after -- go to pytest.",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the tab-separated file of one line per test"
    )
    parser.add_argument(
        "--top", type=int, default=25, help="how many tests to print (default: %(default)s)"
    )
    parser.add_argument("pytest_args", nargs="*", help="pytest's arguments (after --)")
    args = parser.parse_args(argv)
    import pytest

    plugin = CpuPerTest()
    status = pytest.main(["-p", "no:cacheprovider", *args.pytest_args], plugins=[plugin])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in plugin.rows:
            f.write("\t".join([row[0], *(f"{v:.2f}" for v in row[1:4]), str(row[4])]))
            f.write(f"\t{row[5]:.2f}\n")
    print(summary(plugin.rows, args.top))
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
