"""The entry points' shared plumbing: exit statuses and the machine named in results."""

import argparse
import importlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, bench_script

from bioclf import cli, tasks
from bioclf.errors import InputFileError

ZEN1 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2

processor\t: 1
model name\t: another processor
"""


def test_cpu_model_gives_family_and_model(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN1)
    assert tasks.cpu_model(str(cpuinfo)) == "AMD EPYC (family 23, model 1)"


def test_cpu_model_without_cpuinfo(tmp_path):
    name = tasks.cpu_model(str(tmp_path / "absent"))
    assert name and "family" not in name


def test_bad_input_exits_with_status_2(capsys):
    def main(argv):
        raise InputFileError("config/x.yaml", "stdp.n", "must be positive")

    assert tasks.run(main, []) == 2
    err = capsys.readouterr().err
    assert "config/x.yaml" in err and "stdp.n" in err


@pytest.mark.parametrize(
    "raised, status, line",
    [
        ("ResultFileError('state.npz', 'arrays of other shapes')", 2,
         "error: state.npz: arrays of other shapes"),
        ("KeyboardInterrupt", 130, "interrupted; run the same command again to start over"),
    ],
)  # fmt: skip
def test_an_error_or_ctrl_c_after_a_network_was_built_is_one_line(raised, status, line):
    """A task that builds a Brian2 network and then refuses its input (a trained state of
    another shape), or is interrupted as it builds one, prints its one line only; before,
    Brian2 added a dozen lines of 'unused_brian_object' warnings as the network was freed."""
    code = (
        "import brian2, gc, sys\n"
        "from bioclf import tasks\n"
        "from bioclf.errors import ResultFileError\n"
        "def main(argv):\n"
        "    group = brian2.NeuronGroup(2, 'v : 1')\n"
        f"    raise {raised}\n"
        "status = tasks.run(main, [])\n"
        "gc.collect()  # (the network freed, as happens some time before the process ends)\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == status
    assert done.stderr == line + "\n", done.stderr


def test_running_out_of_memory_is_one_line_with_status_2(capsys):
    """`--n-exc 100000000000` ended in numpy's MemoryError traceback ("Unable to allocate 745.
    GiB ..."); now one line saying so, exit status 2."""

    def main(argv):
        np.zeros(10**15)  # (8 PB: more than any machine's address space)

    assert tasks.run(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (Unable to allocate") and err.count("\n") == 1


def test_pytorch_running_out_of_memory_is_one_line_with_status_2(capsys):
    """PyTorch reports memory running out with RuntimeErrors (a GPU's OutOfMemoryError, the CPU
    allocator's plain one), which passed `tasks.run` as tracebacks: a surrogate batch too large
    for the GPU. Any other RuntimeError stays a traceback (a bug)."""
    import torch

    def gpu(argv):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.")

    assert tasks.run(gpu, []) == 2
    assert capsys.readouterr().err == (
        "error: out of memory (CUDA out of memory. Tried to allocate 2.00 GiB.): a size given "
        "(neurons, samples, batch) is too large for this machine\n"
    )
    assert tasks.run(lambda argv: torch.empty(10**15), []) == 2  # (4 PB)
    err = capsys.readouterr().err
    assert "DefaultCPUAllocator: can't allocate memory" in err and err.count("\n") == 1

    def bug(argv):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        tasks.run(bug, [])


def test_an_error_of_the_configuration_names_the_tasks_config_file(tmp_path, capsys):
    """Checks made past loading (the protocol against the model files) name the --config file,
    not a placeholder."""
    from bioclf.stdp import train

    bad = tmp_path / "short_rest.yaml"
    text = (ROOT / "config" / "smoke.yaml").read_text()
    bad.write_text(re.sub(r"rest: [^#\n]*", "rest: 4*ms", text, count=1))
    argv = ["--config", str(bad), "--n-exc", "10", "--out", str(tmp_path / "o")]
    assert tasks.run(train.main, argv) == 2
    err = capsys.readouterr().err
    assert f"configuration {bad}: field 'stdp.protocol.rest'" in err, err
    assert tasks.run(train.main, [f"--config={bad}", *argv[2:]]) == 2
    assert f"configuration {bad}:" in capsys.readouterr().err
    # the file argparse read (before: config/config.yaml, and the first of two given)
    for given in (
        ["--conf", str(bad)],
        [f"--conf={bad}"],
        ["--config", "x.yaml", "--conf", str(bad)],
    ):
        assert tasks.run(train.main, [*given, *argv[2:]]) == 2
        assert f"configuration {bad}: field 'stdp.protocol.rest'" in capsys.readouterr().err


def test_the_option_read_for_an_error_is_the_one_argparse_read():
    """The --config an error names: the last given, abbreviated or with "=", none after "--"."""
    assert tasks._option(["--config", "a.yaml", "--conf=b.yaml"], "--config") == "b.yaml"
    assert tasks._option(["--out", "o", "--config"], "--config") is None
    assert tasks._option(["--config", "a.yaml", "--", "--config", "b.yaml"], "--config") == "a.yaml"
    assert tasks._option(["--", "--config=b.yaml"], "--config") is None


@pytest.mark.parametrize("task", ["bioclf.stdp.train", "bioclf.neuron_check"])
def test_a_build_folder_that_cannot_be_made_is_refused_before_building(tmp_path, capsys, task):
    """`build:` a file: one line naming the field, nothing made (before: a NotADirectoryError
    traceback from the compile, after the output directory was made)."""
    (tmp_path / "afile").write_text("")
    text = (ROOT / "config" / "config.yaml").read_text()
    bad = tmp_path / "c.yaml"
    bad.write_text(re.sub(r"(?m)^build: .*$", f"build: {tmp_path / 'afile'}", text))
    argv = ["--config", str(bad), "--out", str(tmp_path / "o")]
    argv += ["--n-exc", "5"] if task.endswith("train") else []
    assert tasks.run(importlib.import_module(task).main, argv) == 2
    err = capsys.readouterr().err
    assert f"configuration {bad}: field 'build': {tmp_path / 'afile'} exists and is not" in err
    assert not (tmp_path / "o").exists()


def test_the_cuda_backend_where_no_gpu_is_visible_is_refused_before_building(
    tmp_path, capsys, monkeypatch
):
    """Before: the CUDA project compiled (minutes), then its run raised a RuntimeError."""
    from bioclf.brian import backends
    from bioclf.stdp import train

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(backends, "gpu_available", lambda: False)
    text = (ROOT / "config" / "smoke.yaml").read_text()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(re.sub(r"(?m)^build: .*$", f"build: {tmp_path / 'build'}", text))
    argv = ["--config", str(cfg), "--n-exc", "5", "--backend", "cuda", "--out", str(tmp_path)]
    assert tasks.run(train.main, argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: configuration {cfg}: field 'stdp.backend or --backend': 'cuda' needs a GPU, "
        "and the CUDA driver sees none here (CUDA_VISIBLE_DEVICES=''); use cpp"
    )
    assert not (tmp_path / "build").exists()


def test_an_error_of_the_default_configuration_names_its_file(tmp_path, capsys, monkeypatch):
    """Without --config the task reads config/config.yaml, and names it (before: "configuration
    config: field 'stdp.n_train or --n-train'", a file that does not exist)."""
    from bioclf.stdp import train

    monkeypatch.chdir(ROOT)
    argv = ["--n-exc", "10", "--n-train", "70000", "--out", str(tmp_path / "o")]
    assert tasks.run(train.main, argv) == 2
    assert "configuration config/config.yaml: field 'stdp.n_train" in capsys.readouterr().err


def test_a_configuration_file_named_config_is_named_as_it_is(tmp_path, capsys, monkeypatch):
    """``bioclf config-check config`` (a directory) was reported as config/config.yaml: the
    path equalled the name that stands for the task's --config file."""
    from bioclf import config_check

    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    assert tasks.run(config_check.main, ["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: configuration config: ") and "config.yaml" not in err, err


def _interrupted(argv):
    raise KeyboardInterrupt


def test_ctrl_c_says_whether_the_same_command_resumes(capsys):
    """Exit status 130 and one line; "resume" only for a task that does (before, every task
    said so, also one that starts over)."""
    assert tasks.run(_interrupted, [], resumes=True) == 130
    assert capsys.readouterr().err == "interrupted; run the same command again to resume\n"
    assert tasks.run(_interrupted, []) == 130
    assert capsys.readouterr().err == "interrupted; run the same command again to start over\n"


def _sigterm(argv):
    # (at the default action the signal would end pytest itself)
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM not handled"
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # (the signal is handled at once: never reached)
    raise AssertionError("SIGTERM did not end the task")


def test_sigterm_ends_a_task_in_one_line_as_ctrl_c_does(capsys):
    """``kill``, ``scancel`` or a cluster's time limit (SIGTERM) ends a task as Ctrl-C does:
    its cleanup runs and its log says how to go on (before, it died without a word), exit
    status 143; the default action is back afterwards, and a SIGTERM that whoever started the
    task ignores stays ignored."""
    # (as in a task started from a shell; the suite's own handler, conftest's, set aside)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    seen = []
    try:
        assert tasks.run(_sigterm, [], resumes=True) == 143
        assert capsys.readouterr().err == (
            "terminated (SIGTERM); run the same command again to resume\n"
        )
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        assert tasks.run(lambda argv: seen.append(signal.getsignal(signal.SIGTERM)), []) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIG_IGN]


@pytest.mark.parametrize("inherited", ["SIG_IGN", "SIG_DFL"])
def test_a_task_that_imports_brian2_keeps_the_sigint_it_was_started_with(inherited):
    """Brian2's import puts its handler in place of an inherited SIG_IGN (``cmd &`` in a
    script) or SIG_DFL, and calls that as a function. `backends.activate` set it back for
    the STDP tasks; the surrogate tasks, which import brian2 (its equation parser) and never
    activate a backend, ended a ``kill -INT`` with a TypeError traceback. Each task now keeps
    what it was started with: ignored, it goes on; default, it dies of the signal."""
    script = f"""
import signal
signal.signal(signal.SIGINT, signal.{inherited})
import brian2  # (as bioclf.surrogate.compile does, for bioclf.surrogate.train)
from bioclf import tasks
def main(argv):
    signal.raise_signal(signal.SIGINT)
    print("went on")
raise SystemExit(tasks.run(main, [], resumes=True))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert "TypeError" not in res.stderr, res.stderr[-2000:]
    if inherited == "SIG_IGN":
        assert res.returncode == 0 and res.stdout == "went on\n", res.stderr[-2000:]
    else:
        assert res.returncode == -signal.SIGINT and not res.stdout, res.stderr[-2000:]


def test_the_tasks_that_checkpoint_say_they_resume(monkeypatch, capsys):
    """Those whose work resumes from a checkpoint (STDP chunks, surrogate epochs) declare
    ``RESUMES``, which both ``python -m`` (the module's ``__main__`` block) and ``bioclf``
    pass to `tasks.run`."""
    import inspect

    resuming = set()
    for task, name in cli.TASKS.items():
        module = importlib.import_module(name)
        passed = "tasks.run(main, resumes=RESUMES)" in inspect.getsource(module)
        assert passed == hasattr(module, "RESUMES"), name
        if getattr(module, "RESUMES", False):
            resuming.add(task)
    assert resuming == {
        "stdp-train",
        "stdp-assign",
        "stdp-respond",
        "stdp-evaluate",
        "surrogate-train",
    }
    for task, again in (("stdp-assign", "resume"), ("stdp-merge", "start over")):
        monkeypatch.setattr(importlib.import_module(cli.TASKS[task]), "main", _interrupted)
        assert cli.main([task]) == 130
        assert capsys.readouterr().err.endswith(f"again to {again}\n")


def test_numeric_option_types_refuse_out_of_range_values():
    assert tasks.index("0") == 0 and tasks.count("1") == 1 and tasks.time_step("5e-3") == 5e-3
    for parse, text in (
        (tasks.index, "-1"),
        (tasks.count, "0"),
        (tasks.seed, str(2**32)),
        *((tasks.time_step, t) for t in ("0", "-1e-3", "nan", "inf")),
    ):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


@pytest.mark.parametrize("argtype", [tasks.out_dir, tasks.figure_file])
def test_an_output_that_cannot_be_written_is_refused_before_work(tmp_path, argtype, monkeypatch):
    """Before: NotADirectoryError/FileExistsError tracebacks from the first write, after the
    work (an --out below a file), and PermissionError ones (a read-only folder)."""
    name = "f.png" if argtype is tasks.figure_file else "d"
    (tmp_path / "file").write_text("")
    with pytest.raises(argparse.ArgumentTypeError, match="file is not a directory"):
        argtype(str(tmp_path / "file" / "deeper" / name))
    assert argtype(str(tmp_path / "new" / "deeper" / name)) == tmp_path / "new" / "deeper" / name
    assert not (tmp_path / "new").exists()  # checked, nothing made
    (tmp_path / "ro").mkdir()
    real_access = os.access  # (the tests may run as root, to whom every folder is writable)
    monkeypatch.setattr(
        os, "access", lambda p, mode: Path(p) != tmp_path / "ro" and real_access(p, mode)
    )
    with pytest.raises(argparse.ArgumentTypeError, match="ro is not writable"):
        argtype(str(tmp_path / "ro" / name))
    if argtype is tasks.out_dir:  # an existing output directory that is read-only
        with pytest.raises(argparse.ArgumentTypeError, match="ro is not writable"):
            argtype(str(tmp_path / "ro"))


@pytest.mark.parametrize("argtype", [tasks.out_dir, tasks.figure_file])
def test_an_output_in_a_folder_no_one_can_write_is_refused(argtype):
    """/proc refuses new files to root too, to whom `os.access` says yes (before: root got a
    FileNotFoundError traceback from the task's mkdir)."""
    with pytest.raises(argparse.ArgumentTypeError, match="/proc is not writable"):
        argtype("/proc/bioclf_out/f.png")


class _Parsed(Exception):
    """Raised instead of parsing, carrying the task's parser."""


def _task_parser(module, monkeypatch) -> argparse.ArgumentParser:
    """The parser a task's ``main`` builds (caught at its ``parse_args``; nothing runs)."""

    def catch(self, *args, **kwargs):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Parsed) as caught:
        importlib.import_module(module).main([])
    return caught.value.args[0]


def _defaults_unsaid(parser: argparse.ArgumentParser) -> list:
    """The arguments whose help does not give the default they have (or gives None)."""
    arguments = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    unsaid = [a for a in arguments if a.default is not None and a.default is not False]
    unsaid = [a for a in unsaid if "default" not in a.help]
    none = [a for a in arguments if "default: None" in a.help % {"default": a.default}]
    return [a.option_strings or a.dest for a in unsaid + none]


@pytest.mark.parametrize("task", list(cli.TASKS))
def test_every_option_of_every_task_says_what_it_does(task, monkeypatch):
    parser = _task_parser(cli.TASKS[task], monkeypatch)
    assert parser.description
    options = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert options
    undocumented = [a.option_strings or a.dest for a in options if not (a.help or "").strip()]
    assert not undocumented, f"{task}: options without help: {undocumented}"
    assert not _defaults_unsaid(parser), f"{task}: help without the default"
    # --help prints text as it is: a docstring's ``literal`` markup would show
    assert "``" not in parser.format_help()


def _bench_parser(script: Path, monkeypatch) -> argparse.ArgumentParser:
    """The parser a bench script's ``main`` builds (caught where it parses; nothing runs)."""

    def catch(self, *args, **kwargs):
        raise _Parsed(self)

    for name in ("parse_args", "parse_intermixed_args"):
        monkeypatch.setattr(argparse.ArgumentParser, name, catch)
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")  # (bench_lif's main sets it by default)
    module = bench_script(script, f"bench_script_{script.stem}")
    with pytest.raises(_Parsed) as caught:
        module.main()
    return caught.value.args[0]


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_every_argument_of_every_bench_script_says_what_it_is(script, monkeypatch):
    """bench/README.md and the README's table give these scripts' commands: their --help says
    what each argument is, as a task's does (several were listed bare)."""
    parser = _bench_parser(script, monkeypatch)
    assert parser.description
    arguments = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    undocumented = [a.option_strings or a.dest for a in arguments if not (a.help or "").strip()]
    assert not undocumented, f"{script.name}: arguments without help: {undocumented}"
    assert not _defaults_unsaid(parser), f"{script.name}: help without the default"


#: What users and developers read commands in (the module docstrings included).
_DOC_GLOBS = (
    "README.md",
    "docs/*.md",
    "bench/README.md",
    "equations/README.md",
    "results/*/README.md",
    "config/*.yaml",
    "profiles/*/config.yaml",
    "Makefile",
    "Snakefile",
    "workflow/rules/*.smk",
    "bench/gpu/*.sh",
    "scripts/*",
    "bioclf/**/*.py",
)


def documented_commands(text: str) -> list[tuple[str, list[str]]]:
    """(module, options) of each ``python -m bioclf.X ...`` (any ``-m bioclf.X``) or
    ``bioclf <task> ...`` in `text`:
    a command runs on to the end of its line (or of its backslash-continued lines), a backtick,
    a ``|``, ``;``, ``#`` or ``", "`` (prose after it)."""
    text = text.replace("\\\n", " ")
    found = []
    pattern = r"(?<![\w-])-m (bioclf(?:\.\w+)+)|(?<![\w./-])bioclf ([a-z]+(?:-[a-z]+)+)"
    for m in re.finditer(rf"(?:{pattern})([^`\n|;#]*)", text):
        module = m.group(1) or cli.TASKS.get(m.group(2), f"bioclf {m.group(2)}")
        rest = m.group(3).split(", ")[0]
        found.append((module, re.findall(r"(?<![\w-])--[a-z][\w-]*", rest)))
    return found


def test_documented_commands_are_read_as_meant():
    text = (
        "`python -m bioclf.stdp.train --config C \\\n    --n-exc 100` and `bioclf stdp-assign "
        "--shard 0` | --not-this; python -m bioclf.report --out R, with --not-this either\n"
        "python -m bioclf.surrogate.evaluate --model M  # after --not-this\n"
        "bioclf no-such-task --x\n"
        '"$PY" -m bioclf.stdp.merge --what assign'
    )
    assert documented_commands(text) == [
        ("bioclf.stdp.train", ["--config", "--n-exc"]),
        ("bioclf.stdp.assign", ["--shard"]),
        ("bioclf.report", ["--out"]),
        ("bioclf.surrogate.evaluate", ["--model"]),
        ("bioclf no-such-task", ["--x"]),
        ("bioclf.stdp.merge", ["--what"]),
    ]


def test_every_documented_task_command_names_options_the_task_has(monkeypatch):
    """A task or option renamed or removed must not leave the docs showing a command that is
    refused (``python -m bioclf.X --flag`` in the README, docs/, config comments, ...)."""
    modules = set(cli.TASKS.values())
    options = {m: None for m in modules}
    wrong = []
    for pattern in _DOC_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            for module, flags in documented_commands(path.read_text()):
                where = path.relative_to(ROOT)
                if module not in modules:
                    wrong.append(f"{where}: {module} is no task (bioclf/cli.py TASKS)")
                    continue
                if options[module] is None:
                    parser = _task_parser(module, monkeypatch)
                    options[module] = {s for a in parser._actions for s in a.option_strings}
                missing = [f for f in flags if f not in options[module]]
                wrong += [f"{where}: {module} has no {f}" for f in missing]
    assert not wrong, "\n".join(wrong)


#: Modules run as programs that are no task: the entry point itself, and the wrapper the
#: compiled Brian2 programs run under (a file path, not ``python -m``).
_RUNNABLE_NOT_TASKS = {"bioclf.cli", "bioclf.brian.locked_run"}


def test_every_runnable_module_is_a_task():
    """A module with a ``__main__`` block missing from `cli.TASKS` is no ``bioclf <task>``, and
    the tests of every task's options and documented commands pass it by."""
    runnable = set()
    for path in (ROOT / "bioclf").rglob("*.py"):
        if 'if __name__ == "__main__":' in path.read_text():
            runnable.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    missing = runnable - set(cli.TASKS.values()) - _RUNNABLE_NOT_TASKS
    assert not missing, f"add {sorted(missing)} to TASKS in bioclf/cli.py"
    assert _RUNNABLE_NOT_TASKS <= runnable


def test_cli_lists_every_task_and_runs_one(capsys):
    assert cli.main([]) == 0
    listing = capsys.readouterr().out
    for task, module in cli.TASKS.items():
        assert task in listing and f"python -m {module}" in listing
    assert "Train the Diehl & Cook network by unsupervised STDP." in listing
    assert cli.main(["no-such-task"]) == 2
    assert "unknown task 'no-such-task'" in capsys.readouterr().err
    # A task's bad option value is reported and exits 2 (here before anything is loaded).
    with pytest.raises(SystemExit) as exit_:
        cli.main(["stdp-train", "--out", "x", "--n-exc", "ten"])
    assert exit_.value.code == 2
    # ``python -m bioclf`` is the same command (for a venv whose scripts are not on the PATH)
    done = subprocess.run(
        [sys.executable, "-m", "bioclf", "no-such-task"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown task 'no-such-task'" in done.stderr
    assert "python -m bioclf.stdp.train" in done.stderr


def test_usage_line_is_a_command_that_runs(tmp_path):
    """``python -m bioclf.stdp.train --help`` shows that command, not ``train.py``; through
    ``bioclf`` it shows ``bioclf stdp-train``."""
    import subprocess
    import sys

    from conftest import ROOT

    for module in ("bioclf.stdp.train", "bioclf.readme_table", "bioclf.data.check"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0 and done.stdout.startswith(f"usage: python -m {module} ")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bioclf import cli; sys.exit(cli.main())",
            "stdp-train",
            "--help",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: bioclf stdp-train ")


def test_a_figure_task_refuses_an_unknown_ending_and_a_matrix_of_another_shape(tmp_path, capsys):
    """Before: matplotlib's ValueError for --out x.txt, numpy's for a 1-D --confusion."""
    import numpy as np

    from bioclf import confusion_figure

    matrix = tmp_path / "m.npy"
    np.save(matrix, np.eye(10, dtype=np.int64))
    with pytest.raises(SystemExit) as exit_:
        confusion_figure.main(["--confusion", str(matrix), "--out", str(tmp_path / "f.txt")])
    assert exit_.value.code == 2 and "names no figure format" in capsys.readouterr().err
    np.save(matrix, np.arange(10))
    out = str(tmp_path / "f.png")
    assert tasks.run(confusion_figure.main, ["--confusion", str(matrix), "--out", out]) == 2
    assert "expected one array of 2 dimension(s), found shape (10,)" in capsys.readouterr().err
    np.save(matrix, np.eye(10, dtype=np.int64))
    assert tasks.run(confusion_figure.main, ["--confusion", str(matrix), "--out", out]) == 0
    assert (tmp_path / "f.png").stat().st_size > 0


@pytest.mark.parametrize(
    "change, found",
    [
        (lambda m: m - 2 * np.eye(10, dtype=np.int64), "found -1 in row 0, column 0 (10 such"),
        (lambda m: np.where(m, np.nan, 0.0), "found nan in row 0, column 0"),
        (lambda m: m + 0.5, "found 1.5 in row 0, column 0 (100 such"),
        (lambda m: m.astype(bool), "expected counts (integers), found bool values"),
        (lambda m: m[:9], "of shape (10, 10), found (9, 10)"),
    ],
)
def test_a_confusion_matrix_of_other_than_counts_is_refused(tmp_path, capsys, change, found):
    """Negative, NaN or fractional 'counts' were drawn as such, with an accuracy and n made of
    them: refused in one line naming the file, before any figure is written."""
    from bioclf import confusion_figure

    matrix, out = tmp_path / "m.npy", tmp_path / "f.png"
    np.save(matrix, change(np.eye(10, dtype=np.int64)))
    assert tasks.run(confusion_figure.main, ["--confusion", str(matrix), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {matrix}: ") and found in err, err
    assert not out.exists()
    np.save(matrix, np.eye(10))  # float counts, as another tool may save them: drawn
    assert tasks.run(confusion_figure.main, ["--confusion", str(matrix), "--out", str(out)]) == 0


def test_durations_read_as_a_clock():
    assert tasks.duration(0) == "0:00" and tasks.duration(-3) == "0:00"
    assert tasks.duration(59.4) == "0:59" and tasks.duration(59.6) == "1:00"
    assert tasks.duration(754) == "12:34"
    assert tasks.duration(3600) == "1:00:00" and tasks.duration(25 * 3600 + 61) == "25:01:01"


def test_time_left_is_the_samples_left_at_the_rate_between_the_points():
    # 100 samples in 10 s: 10/s; 700 left
    assert tasks.time_left([(5.0, 200), (10.0, 250), (15.0, 300)], 1000) == 70.0
    assert tasks.time_left([(0.0, 0), (4.0, 1000)], 1000) == 0.0
    assert tasks.time_left([(0.0, 0), (0.0, 10)], 100) is None  # no time has passed
    assert tasks.time_left([(0.0, 10), (5.0, 10)], 100) is None  # no sample done


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_progress_of_a_resumed_run_measures_the_rate_since_the_resumption():
    """Resumed at sample 400 of 1000: 100 samples in 10 s leave 500 for 50 s (counting the
    400 done before as done in these 10 s would give 9 s)."""
    clock = _Clock()
    progress = tasks.Progress(1000, done=400, clock=clock)
    clock.now += 10
    assert progress(500) == "0:10 elapsed, 0:50 left"
    clock.now += 40
    assert progress(1000) == "0:50 elapsed, 0:00 left"


def test_progress_follows_the_recent_rate():
    """After `RATE_WINDOW` lines the rate is that of the last ones: a run that slows from 100
    to 10 samples/s is estimated at 10/s once a window of lines has passed at that rate."""
    clock = _Clock()
    progress = tasks.Progress(100_000, clock=clock)
    done = 0
    for _ in range(20):
        clock.now += 10
        done += 1000
        progress(done)
    for _ in range(tasks.RATE_WINDOW):
        clock.now += 10
        done += 100
        text = progress(done)
    elapsed = 200 + 10 * tasks.RATE_WINDOW
    left = (100_000 - done) / 10
    assert text == f"{tasks.duration(elapsed)} elapsed, {tasks.duration(left)} left"


def test_ctrl_c_while_a_task_loads_ends_it_in_one_line(tmp_path):
    """A Ctrl-C during a task's imports, before `tasks.run` (brian2 and torch take seconds to
    load), as ``python -m`` and as ``bioclf``, ends it with one line, not a traceback. The
    interruption is made deterministic by a brian2 whose import raises it."""
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "brian2").mkdir()
    (tmp_path / "brian2" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    for command in (
        ["-m", "bioclf.stdp.train", "--help"],
        ["-c", "import sys; from bioclf import cli; sys.exit(cli.main())", "stdp-train", "-h"],
    ):
        done = subprocess.run(
            [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.stderr == "interrupted\n", (command, done.stderr)
        assert done.returncode in (130, -signal.SIGINT), command  # (Python exits by SIGINT)
        assert done.stdout == ""


@pytest.mark.parametrize("task", ["stdp-assign", "stdp-respond", "stdp-evaluate"])
def test_a_frozen_run_into_the_trained_directory_is_refused(task, tmp_path, capsys):
    """Before: --out DIR --trained DIR ran, and set the training's checkpoint.npz aside as
    another run's (checkpoint.stale.npz), wrote its own over it, and mixed the outputs."""
    (tmp_path / "checkpoint.npz").write_bytes(b"the training's")
    argv = ["--trained", str(tmp_path), "--out", f"{tmp_path}/."]
    if task == "stdp-evaluate":
        argv += ["--assignment", str(tmp_path / "assign" / "assignment.npy")]
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(cli.TASKS[task]).main(argv)
    assert exit_.value.code == 2 and "--out must differ from --trained" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


def _run_python(script: str, path: str | None = None) -> str:
    """The output of `script` in a fresh Python with `path` (a fake torch) before the project."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*filter(None, [path]), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_provenance_names_torch_without_importing_it(tmp_path):
    """STDP tasks record torch's version in their provenance; importing torch for it alone held
    ~450 MB. The version is read from torch/version.py, as torch.__version__ gives it (the
    installed torch's checked too), and a layout without it falls back to the import."""
    script = (
        "import sys; from bioclf import tasks; v = tasks.provenance().get('torch'); "
        "print(v, 'torch' in sys.modules)"
    )

    def version(path=None):
        return _run_python(script, path).split()

    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('imported')\n")
    (fake / "version.py").write_text("from typing import Optional\n__version__ = '9.9+fake'\n")
    assert version(str(tmp_path)) == ["9.9+fake", "False"]
    (fake / "version.py").write_text("__version__ = '.'.join(['9', '8'])\n")
    (fake / "__init__.py").write_text("__version__ = '9.8+imported'\n")
    assert version(str(tmp_path)) == ["9.8+imported", "True"]
    import torch

    assert version() == [torch.__version__, "False"]


def test_brian2_is_imported_without_matplotlib():
    """Brian2 imported matplotlib and pyplot as it initialised (~0.5 s of CPU in every Snakemake
    call and job) for nothing bioclf uses: bioclf reports them missing to Brian2's own modules
    while Brian2 initialises, and only then. Brian2 then has numpy's names and its units;
    matplotlib and pylab import as before afterwards, and matplotlib beforehand."""
    script = (
        "import sys; import bioclf.config, brian2; "
        "print('matplotlib' in sys.modules, float(brian2.linspace(0, 1, 3)[1]), "
        "repr(3 * brian2.ms)); import pylab; print(pylab.plot.__module__)"
    )
    expected = ["False", "0.5", "3.", "*", "msecond", "matplotlib.pyplot"]
    assert _run_python(script).split() == expected
    script = "import matplotlib.pyplot as plt, bioclf, brian2; print(brian2.ms, plt.plot.__name__)"
    assert _run_python(script).split() == ["ms", "plot"]


def test_provenance_without_a_torch_that_imports(tmp_path):
    """A torch that cannot be imported is left out of the provenance, as when importing it gave
    the version: before, a blocked import (``sys.modules['torch'] = None``) and a broken install
    without torch/version.py (whose import fails) made every task fail in `provenance`."""

    def version(path: str, block: bool = False) -> str:
        script = (
            "import sys; sys.modules['torch'] = None; " if block else ""
        ) + "from bioclf import tasks; print(tasks.provenance().get('torch'))"
        return _run_python(script, path).strip()

    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no torch/version.py')\n")
    assert version(str(tmp_path)) == "None"
    assert version(str(tmp_path), block=True) == "None"


def test_provenance_names_the_commit_of_the_code_where_git_can_tell(tmp_path, monkeypatch):
    """Metrics say which code made them, the checkout's outputs aside (a pipeline rewrites the
    committed results, which must not make every later job's code "dirty"); in a copy of the
    tree without git, ``BIOCLF_COMMIT`` or nothing."""
    seen = []
    monkeypatch.setattr(tasks, "code_commit", lambda root, ignore: seen.append(ignore) or "ab12")
    assert tasks.provenance()["commit"] == "ab12" and seen == [tasks.OUTPUTS]
    monkeypatch.setattr(tasks, "code_commit", lambda root, ignore: "")
    assert "commit" not in tasks.provenance()
    monkeypatch.undo()
    monkeypatch.setenv("BIOCLF_COMMIT", "cd34")
    assert tasks.code_commit(tmp_path) == "cd34"  # (tmp_path: no git checkout)
    monkeypatch.setenv("PATH", "")  # no git at all
    assert tasks.code_commit(ROOT) == "cd34"


def test_a_count_takes_its_noun_in_the_number_it_needs(monkeypatch):
    """The surrogate training log said '1 threads' (and provenance would say '1 cores')."""
    assert tasks.counted(1, "thread") == "1 thread"
    assert tasks.counted(2, "thread") == "2 threads" and tasks.counted(0, "row") == "0 rows"
    assert tasks.counted(3, "batch", "batches") == "3 batches"
    monkeypatch.setattr(tasks, "_cpu_count", lambda: 1)
    assert ", 1 core, " in tasks.provenance()["machine"]
