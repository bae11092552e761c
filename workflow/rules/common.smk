# Configuration check and the lists of runs. The configuration is validated against
# config/schema.yaml before any job starts: a bad value stops the workflow with the key named.

import atexit
import functools
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from snakemake_interface_executor_plugins.settings import ExecMode as _ExecMode
from snakemake.utils import update_config as _update_config

from bioclf import checked as _checked, config as _bioclf_config, tasks as _tasks
# a run that sets its input code or window is named after them: fc100_latency_T25
from bioclf.config import surrogate_run_name as sur_name, twin_runs as _twin_runs
from bioclf.equations import model_files as _model_files
from bioclf.errors import BioclfError, ConfigError
from bioclf.surrogate.options import TrainConfig as _TrainConfig, format_checksums


# (those imports brought Brian2, which replaced an inherited SIGINT action with a handler that
# fails when it is the signal's: a run started with SIGINT ignored keeps ignoring it, and so
# do its jobs)
_tasks.keep_inherited_sigint()


def _refuse(exc):
    """Stop the workflow on bad input as the tasks do: one line, exit status 2."""
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)


# What Snakemake merged: the configuration files (config/config.yaml, or those --configfile
# names, later ones overriding earlier ones) and --config values, named in messages.
# Snakemake makes --configfile paths absolute; a file in the working directory is named
# relative to it, as the jobs see it. The jobs get the path in their commands ({CFG}), not as
# a parameter: Snakemake compares parameters with its record, so a path changed by naming the
# default (`--configfile config/config.yaml`), by moving the working directory or by merging
# a second file or --config values (CFG, below) would run every job again, where the settings
# files rerun just the jobs whose values changed.
def _cfg_name(f):
    f, here = Path(f), Path.cwd()
    return str(f.relative_to(here)) if f.is_absolute() and f.is_relative_to(here) else str(f)


_CFG_SOURCES = [_cfg_name(f) for f in workflow.overwrite_configfiles or ["config/config.yaml"]]
try:
    # Snakemake kept the last value of a key given twice in a file: refused, as by the tasks
    for _f in _CFG_SOURCES:
        _bioclf_config.read(_f)
except BioclfError as _exc:
    _refuse(_exc)
if workflow.config_settings.config:
    _CFG_SOURCES.append("--config")
    # (Snakemake reads `surrogate={epochs: 2}` as {'epochs': '2'}: typed as a top-level value)
    _update_config(config, _bioclf_config.command_line_values(dict(workflow.config_settings.config)))
try:
    _bioclf_config.validate(config, " + ".join(_CFG_SOURCES))
except BioclfError as _exc:
    _refuse(_exc)


# The jobs run `python`: the interpreter that runs Snakemake (the project's environment), its
# directory first on the jobs' PATH. Its path is in none of the jobs' parameters or commands,
# which Snakemake compares with what it recorded, so that an environment moved or made anew
# elsewhere runs no job again. A cluster job parses this file again on its node, and so runs
# the interpreter that runs it there.
def _python_first_on_path():
    here = Path(sys.executable)
    where = here.parent
    beside = where / "python"
    if not (beside.exists() and beside.samefile(here)):  # e.g. a python3 with no `python`
        where = Path(tempfile.mkdtemp(prefix="bioclf-python-"))
        atexit.register(shutil.rmtree, where, True)
        # a script, not a link: a virtual environment's interpreter finds its environment by
        # the path it is started by
        (where / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(str(here))} "$@"\n')
        (where / "python").chmod(0o755)
    # (set, not read: nothing for the envvars directive that the lint asks of os.environ[...])
    os.environ.update(PATH=os.pathsep.join([str(where), os.environ.get("PATH", "")]))


_python_first_on_path()

# The file the jobs read: the configuration file itself, or, where several files or --config
# values were merged, the merged configuration written out, so that the jobs run what the
# workflow planned. It is written when a run starts (onstart, below: Snakemake holds the
# working directory's lock then), not here: parsing happens in every dry run, and in a run that
# the lock then refuses, and either would change what the jobs of a run under way read. A
# cluster job (it parses this file again, with the run's configuration) writes it where it
# differs, and so reads what it planned; so does the first run here under --no-hooks (which
# skips onstart). A later run under --no-hooks whose values differ from the file's is refused
# (`_check_job_file`): its jobs would read the file's.
CFG_FILE, _CFG_TEXT = _bioclf_config.job_file(
    config, _CFG_SOURCES, ".snakemake/bioclf/config.yaml"
)
if workflow.exec_mode != _ExecMode.DEFAULT or not Path(CFG_FILE).exists():
    _bioclf_config.write_job_file(CFG_FILE, _CFG_TEXT)
# As the shell commands give it: one argument, a --configfile name with a space included (the
# same text as CFG_FILE where nothing needs quoting, so the commands stay as they were)
CFG = _bioclf_config.shell_word(CFG_FILE)
SEEDS = config["seeds"]
# Where the data rule downloads the data set (data.url), the jobs that read it first (the
# trainings; the others follow them) wait for it: else each would fetch the files itself, and
# on a cluster from a compute node, which may have no network.
DATA_READY = ["results/data/summary.json"] if config["data"].get("url") else []
STDP = config["stdp"]
SUR = config["surrogate"]
STDP_BACKEND = STDP["backend"]
STDP_SIZES = [s["n"] for s in STDP["sizes"]]
try:
    # A model file and the files it extends: editing any of them re-runs the rules using it.
    # The files of the sizes' training schedules too (a few of them train only some sizes;
    # editing one re-runs the STDP branch all the same).
    _scheduled = [
        m for s in STDP["sizes"] for p in s.get("schedule", []) for m in p["models"].values()
    ]
    STDP_MODELS = sorted(
        {str(f) for m in [*STDP["models"].values(), *_scheduled] for f in _model_files(m)}
    )
    SUR_NEURON_FILES = [str(f) for f in _model_files(SUR["neuron"])]
    # ({input.neuron}, unquoted in the surrogate rules' commands: a path that needs quoting)
    _bioclf_config.check_command_paths(config, " + ".join(_CFG_SOURCES))
    CHECK_NEURON_FILES = [str(f) for f in _model_files(config["neuron_check"]["model"])]
except BioclfError as _exc:
    _refuse(_exc)


# Checks that passed, by their inputs (`bioclf.checked`): a later start with the same inputs
# skips them.
_CHECKED = ".snakemake/bioclf/checked"
# What else the model check does (after the files of the configuration), e.g. the sweep points'
# checks (sweeps_common.smk): functions of the surrogate networks' dt and their numbers of time
# steps, appended by the other rule files.
MODEL_CHECKS = []


@functools.cache  # (once: a dry run plans many jobs)
def _check_models():
    """Every model file in full (units, names, what the STDP network needs; the surrogate
    network's neuron compiled to PyTorch at its dt), and the protocol against them: a typo
    stops the workflow (exit status 2, the file and field named) before any job runs, not a job
    minutes in. Parsing above only reads the files (it runs in every job, and without Brian2);
    this runs at the start of a run, and as a dry run plans its jobs."""
    try:
        # the STDP network's files against its protocol, those of each training phase too
        _phases = [_p["models"] for _s in STDP["sizes"] for _p in _s.get("schedule", [])]
        for _models in [{}, *_phases]:
            _models = {**STDP["models"], **_models}
            _checked.stdp_protocol(_CHECKED, {**config, "stdp": {**STDP, "models": _models}})
        _dt = _bioclf_config.quantity(config, "surrogate", "dt") if "dt" in SUR else _TrainConfig.dt
        _steps = sorted(
            {int(r.get("time_steps", SUR.get("time_steps", _TrainConfig.T))) for r in SUR["runs"]}
        )
        # compiled, not only loaded: the surrogate compiler refuses valid Brian2 that it cannot
        # turn into PyTorch (a refractory condition, noise, 't' in the equations), and a
        # refractory period that outlasts a network's presentation
        _checked.surrogate_neuron(_CHECKED, SUR["neuron"], _dt, _steps)
        for _check in MODEL_CHECKS:
            _check(_dt, _steps)
        # the neuron check's file, and what the check refuses before simulating (a file whose
        # input does not drive its membrane, a duration too short), which its job would refuse
        # after Snakemake removed the check's earlier results; last, as a fault of a file that
        # the networks use too is named better by their checks (a t_ref as long as a
        # presentation, rather than the duration its f-I curve would need)
        _checked.neuron_check(_CHECKED, config, " + ".join(_CFG_SOURCES))
    except ConfigError as _exc:  # (check_protocol's names no file)
        _refuse(ConfigError(" + ".join(_CFG_SOURCES), _exc.field, _exc.reason))
    except BioclfError as _exc:
        _refuse(_exc)


@functools.cache
def _check_data():
    """The data set's files, as the jobs read them (checksums included: about a second for
    MNIST): a truncated or corrupt file stops the workflow (exit status 2, the file named)
    before any job runs, not each job that reads it with the message in its log. Files that
    data.url will download are left to the data rule."""
    try:
        from bioclf.data.datasets import check_configured as _check_configured

        _root = Path(config["data"]["root"])
        _files = sorted(_root.iterdir()) if _root.is_dir() else []
        _checked.once(
            _CHECKED,
            _checked.key("data", repr(sorted(config["data"].items())), stats=_files),
            lambda: _check_configured(config["data"]),
        )
    except BioclfError as _exc:
        _refuse(_exc)


def _check_models_in_a_dry_run():
    """A dry run (-n) runs no onstart: it checks the model files and the data as it plans the
    first job (whether the run is dry is known only then, not when this file is parsed)."""
    if workflow.dryrun and workflow.is_main_process:
        _check_models()
        _check_data()


def _gpu_key(name):
    """The configuration key that makes a job of rule `name` claim a GPU (its `gpu`
    resource), and what works without one; None where the job runs without one all the same."""
    if name == "neuron_check":  # (with another backend beside cuda it skips cuda, and says so)
        alone = NEURON_CHECK_BACKENDS == ["cuda"]
        return ("neuron_check.backends", "add runtime or cpp") if alone else None
    if name == "surrogate_brian":
        return "surrogate.export.backend", "use cpp"
    if name.startswith(("surrogate", "ann", "sweep_surrogate")):
        return "surrogate.device", "use auto or cpu"
    return "stdp.backend", "use cpp"


def _check_gpu():
    """Where jobs run on this machine, a job to run that claims a GPU is refused as the run
    starts if none is visible: the job would refuse it only after Snakemake had removed its
    earlier outputs (the STDP and export jobs after compiling the CUDA project). Jobs that need
    none still run (e.g. the report of results computed on a GPU). Not in a dry run (planned
    on a login node for a cluster) nor with a cluster executor."""
    if not workflow.local_exec:
        return
    claims = [j.rule.name for j in workflow.dag.needrun_jobs() if j.resources.get("gpu", 0)]
    keys = [k for k in map(_gpu_key, claims) if k is not None]
    if keys:
        from bioclf.brian.backends import no_gpu as _no_gpu

        if why := _no_gpu():
            field, instead = keys[0]
            _refuse(ConfigError(" + ".join(_CFG_SOURCES), field, f"{why}; {instead}"))


# What else a run does when it starts (after _check_models), e.g. `bioclf.sweeps.started`:
# functions without arguments, appended by the other rule files.
ONSTART = []

onstart:
    _check_models()
    _check_data()
    _check_gpu()
    # (only now: a refused configuration leaves the file of the run before as it was)
    _bioclf_config.write_job_file(CFG_FILE, _CFG_TEXT)
    for _hook in ONSTART:
        _hook()
    _SETTINGS_WRITTEN.keep()  # (the checks passed: the settings files written stay)


SUR_NETS = [sur_name(r) for r in SUR["runs"]]
SUR_FC = [n for n in SUR_NETS if n.startswith("fc")]
EXPORT = SUR.get("export", {})
EXPORT_BACKEND = EXPORT.get("backend", "cpp")


# Where each run's results go, written out once: rules, targets and the report use these.
STDP_RUN = "results/stdp/{backend}/n{n}/seed{seed}"
SUR_RUN = "results/surrogate/{net}/seed{seed}"
ANN_RUN = "results/ann/{net}/seed{seed}"  # the non-spiking twin of SUR_RUN (workflow/rules/ann.smk)
# Shard {k} of label assignment and of the test responses where stdp.shards > 1
# (workflow/rules/stdp.smk); the number of shards is in the name, so changing it starts afresh.
STDP_SHARDS = int(STDP.get("shards", 1))
STDP_ASSIGN_SHARD = f"{STDP_RUN}/assign/shard{{k}}of{STDP_SHARDS}"
STDP_TEST_SHARD = f"{STDP_RUN}/test/shard{{k}}of{STDP_SHARDS}"
# Per-job names of logs and benchmarks.
STDP_JOB = "{backend}_n{n}_seed{seed}"
STDP_SHARD_JOB = "{backend}_n{n}_seed{seed}_shard{k}"
SUR_JOB = "{net}_seed{seed}"


def run_dir(template):
    """A params function: the directory `template` of the job's wildcards (not hardcoded, as
    Snakemake's lint asks of a prefix of the outputs)."""
    return lambda w: template.format(**dict(w.items()))


def logfile(rule, job=None):
    return f"results/logs/{rule}_{job}.log" if job else f"results/logs/{rule}.log"


def benchfile(rule, job=None):
    return f"results/benchmarks/{rule}_{job}.tsv" if job else f"results/benchmarks/{rule}.tsv"


# Each job's settings file: the configuration values its results depend on (those of the jobs
# before it included), an input of the job. A run rewrites it when, and only when, its content
# changes, so that changing a value in a configuration file reruns exactly the jobs that read
# it. Snakemake's record of parameters cannot do this: the STDP jobs are given the
# configuration file's path, and the committed results (a fresh clone) have no record at all.
# The committed results' files are committed too (results/.settings/, checked out before the
# results, so older). A dry run leaves them alone (a run under way, or going back to the values
# they hold, needs them as they are): where the values differ it plans the job with a fresh
# copy under .snakemake/bioclf/planned/ instead.
SETTINGS = _bioclf_config.SETTINGS
# The settings files a run changed as it planned its jobs: given back as the process ends
# unless the run started (onstart), so that a run refused by its checks, by the lock of a run
# under way, or stopped before its jobs, leaves them as they were (--no-hooks skips onstart:
# there they are written for good).
_SETTINGS_WRITTEN = _bioclf_config.SettingsWrites()
atexit.register(_SETTINGS_WRITTEN.undo)


def _no_hooks():
    run = getattr(workflow, "execution_settings", None)
    return run is not None and run.no_hooks


def _check_job_file():
    """Refuse a run under --no-hooks (no onstart) whose jobs would read a merged configuration
    file holding other values. Called as the jobs are planned: whether hooks run is known only
    then, not when this file is parsed."""
    if (
        _CFG_TEXT is None
        or not _no_hooks()
        or workflow.dryrun
        or workflow.touch
        or workflow.exec_mode != _ExecMode.DEFAULT
        or Path(CFG_FILE).read_text() == _CFG_TEXT
    ):
        return
    _refuse(
        f"{CFG_FILE} holds the configuration of an earlier run, not this one's "
        f"({' + '.join(_CFG_SOURCES)}), and --no-hooks skips the start of a run that writes "
        "it: run without --no-hooks"
    )


def settings(rule, job, values, restore=None):
    """An input function: the path of the job's settings file, written if `values(wildcards)`
    differ from what it holds (in a dry run, a fresh file elsewhere). Every job that reads the
    configuration file has one: it checks that file first (`_check_job_file`). `restore`
    (`bioclf.sweeps.restore_settings`) brings back a missing file kept elsewhere."""

    def path(w):
        _check_job_file()
        _check_models_in_a_dry_run()
        name = job.format(**dict(w.items())) if job else "all"
        f = Path(SETTINGS, rule, f"{name}.json")
        text = _bioclf_config.settings_text(values(w))
        # (what a run changes here is given back if it stops before its jobs; a cluster job's
        # process and a run without onstart write for good)
        main_run = workflow.exec_mode == _ExecMode.DEFAULT and not workflow.dryrun
        writes = _SETTINGS_WRITTEN if main_run and not _no_hooks() else None
        if restore is not None:
            restore(f, text, workflow.dryrun, writes)
        if _bioclf_config.carry_over(f, text, workflow.dryrun):  # (an earlier version's form)
            return str(f)
        if workflow.dryrun and not (f.exists() and f.read_text() == text):
            f = Path(".snakemake/bioclf/planned", rule, f"{name}.json")
            f.unlink(missing_ok=True)  # written anew: newer than the job's outputs
            _bioclf_config.write_job_file(f, text)
        elif writes is not None:
            writes.write(f, text)
        else:
            _bioclf_config.write_job_file(f, text)
        return str(f)

    return path


def stdp_settings(rule, stage, job=STDP_JOB):
    return settings(rule, job, lambda w: _bioclf_config.stdp_settings(config, w.n, stage))


def report_settings(w):
    """The configuration, less what changes no result: where to build, how often surrogate
    training checkpoints."""
    values = {k: v for k, v in config.items() if k != "build"}
    values["surrogate"] = {k: v for k, v in SUR.items() if k != "checkpoint_minutes"}
    return values


def sur_run(net):
    for r in SUR["runs"]:
        if sur_name(r) == net:
            return r
    raise ValueError(f"no surrogate run {net}")


def stdp_threads(w=None):
    return int(STDP.get("threads", 1))


def stdp_gpu(w):
    return 1 if w.backend == "cuda" else 0


def stdp_pairs_mb(n):
    """Memory (MB) of the N x N inhibitory synapses (every inhibitory neuron onto every
    excitatory one but its partner, equations/dc_inh_exc.yaml): 40 bytes per pair. Brian2
    creates them in the program (bioclf/brian/groups.py), which held 33 bytes per pair at
    N=6400 (40.9 million pairs: program 1,365 MB, Python 659.5 MB at most over the first 20
    training samples, cpp), the raster (runtime backend, Python alone) 1,829 MB there
    (bench/README.md, "Current figures": the rows "cluster requests at config/paper.yaml's
    largest sizes" and, for Python's 659.5 MB, "STDP jobs' Python peak memory")."""
    return int(n) ** 2 // 25_000


def stdp_counts_mb(n, samples):
    """Memory (MB) of a pass's spike counts, `samples` x N: 2 bytes each (uint16,
    bioclf/stdp/run.py) twice (a merge's shards and their concatenation; the label assignment
    sums them one class at a time, bioclf/stdp/labels.py): 1.5 GB at N=6400 and 60,000
    samples, where four shards' counts, concatenated and assigned, took 1.65 GB at most."""
    return int(n) * int(samples) * 4 // 1_000_000


def stdp_mem_mb(w):
    """Memory (MB) an STDP job of N neurons asks for: 2 GB (Python, Brian2 and the compiler),
    0.25 MB per neuron (the input synapses, and a pass's spike counts: 0.12 MB per neuron for a
    label assignment of 60,000 samples) and the N x N inhibitory synapses
    (`stdp_pairs_mb`): 2.0 GB at N=100, 2.5 GB at N=1600, 5.2 GB at N=6400 (2.0 GB measured
    over the first 20 training samples, cpp: Python 659.5 MB, program 1,365 MB, logged in
    bench/README.md as for `stdp_pairs_mb`; a label assignment of 60,000 samples holds 0.77 GB
    more: its uint16 counts)."""
    return 2000 + int(w.n) // 4 + stdp_pairs_mb(w.n)


def retry_scaled(base):
    """A memory request (MB, or a function of the wildcards) times the attempt number.

    A job killed for running out of memory is retried (``retries`` in profiles/slurm) with
    twice as much rather than the same amount again.
    """

    def value(wildcards, attempt):
        return (base(wildcards) if callable(base) else base) * attempt

    return value


# Surrogate-training options the configuration may set: (config key, command-line flag), in
# the order of the command line. Only keys that are set are passed; every other option takes
# its default from bioclf/surrogate/options.py (TrainConfig), the one place defaults live.
# A network's own value (under 'runs') overrides the surrogate section's.
SUR_OPTIONS = [
    ("epochs", "--epochs"),
    ("time_steps", "--T"),
    ("dt", "--dt"),
    ("max_rate", "--max-rate"),
    ("batch_size", "--batch-size"),
    ("lr", "--lr"),
    ("weight_decay", "--weight-decay"),
    ("threads", "--threads"),
    ("data", "--data"),  # always: the data section's root
    ("augment_shift", "--augment-shift"),
    ("surrogate_gradient", "--surrogate"),
    ("slope", "--slope"),
    ("n_train", "--train-subset"),
    ("n_test", "--test-subset"),
    ("device", "--device"),
    ("encoding", "--encoding"),
]
# Brian2 quantities in the configuration, SI floats here
SUR_QUANTITIES = {key[1] for key in _bioclf_config.QUANTITIES if key[0] == "surrogate"}
SUR_THREADS = SUR.get("threads", _TrainConfig.threads)
SUR_DEVICE = SUR.get("device", _TrainConfig.device)


def _sur_running_flags():
    """Options of how a training job runs that change no result (how often it checkpoints
    within an epoch): on its command line (after the flags, with a space of its own) as
    SUR_RUNNING, a name the shell command formats, not a parameter (as `snakemake --lint`
    advises): Snakemake reruns a job whose parameters changed (and whose settings file did),
    but compares the command as written in the rule, so a new value reruns nothing."""
    minutes = SUR.get("checkpoint_minutes")
    return "" if minutes is None else f" --checkpoint-minutes {minutes}"


SUR_RUNNING = _sur_running_flags()


def sur_flags(w):
    return " ".join(_sur_flag_list(w.net))


def _sur_flag_list(net):
    """The training command's options of network `net`, one "--flag value" each."""
    run = sur_run(net)
    flags = [f"--arch {run['arch']}"]
    if "hidden" in run:
        flags.append(f"--hidden {run['hidden']}")
    if "channels" in run:
        flags.append(f"--channels {run['channels'][0]} {run['channels'][1]}")
    if "stride1" in run:
        flags.append(f"--stride1 {run['stride1']}")
    if "conv_hidden" in run:
        flags.append(f"--conv-hidden {run['conv_hidden']}")
    for key, flag in SUR_OPTIONS:
        value = config["data"]["root"] if key == "data" else run.get(key, SUR.get(key))
        if value is None:
            continue
        if key in SUR_QUANTITIES:
            value = float(_bioclf_config.quantity(config, "surrogate", key))
        # (quoted where needed: a path of the user's, e.g. a data root with a space, is one
        # argument; one that needs no quoting, data/mnïst too, is as it was before quoting)
        flags.append(f"{flag} {_bioclf_config.shell_word(value)}")
    # the rest of the data section, where it differs from the defaults (MNIST's): quoted by
    # shlex.quote, as these always were (shell_word would change a non-ASCII one's command)
    data = config["data"]
    if data.get("name", "mnist") != _TrainConfig.data_name:
        flags.append(f"--data-name {shlex.quote(data['name'])}")
    if data.get("url"):
        flags.append(f"--data-url {shlex.quote(data['url'])}")
    if data.get("checksums"):
        flags.append(f"--data-checksums {shlex.quote(format_checksums(data['checksums']))}")
    return flags


def ann_flags(w):
    """The twin's options: its network's, but a learning rate of its own where the run sets
    `ann_lr` (chosen on validation images, as the spiking network's was)."""
    flags = _sur_flag_list(w.net)
    lr = sur_run(w.net).get("ann_lr")
    if lr is not None:  # (last, where the text of the settings files has it)
        flags = [f for f in flags if not f.startswith("--lr ")] + [f"--lr {lr}"]
    return " ".join(flags)


def sur_gpu(w=None):
    """GPUs a surrogate job claims: one where the configuration asks for device 'cuda' (the GPU
    profile does); 'auto' uses a GPU that the job happens to see but claims none, so that a
    CPU-only cluster is never asked for one."""
    return 1 if SUR_DEVICE == "cuda" else 0


def stdp_targets():
    return expand(
        f"{STDP_RUN}/{{f}}",
        backend=STDP_BACKEND,
        n=STDP_SIZES,
        seed=SEEDS,
        f=["test/metrics.json", "test/confusion.png", "receptive_fields.png", "raster.png"],
    )


def surrogate_targets():
    out = expand(f"{SUR_RUN}/{{f}}", net=SUR_NETS, seed=SEEDS, f=["metrics.json", "confusion.png"])
    out += expand(f"{SUR_RUN}/brian/brian2_export.json", net=SUR_FC, seed=SEEDS)
    return out


def ann_targets():
    """The ANN twins of the surrogate networks (workflow/rules/ann.smk), unless switched off."""
    if not config.get("ann", {}).get("enabled", True):
        return []
    nets = [sur_name(r) for r in _twin_runs(SUR["runs"])]  # latency/T runs share the plain twin
    return expand(f"{ANN_RUN}/metrics.json", net=nets, seed=SEEDS)


wildcard_constraints:
    n=r"\d+",
    seed=r"\d+",
    backend="runtime|cpp|cuda",
    net=r"(fc\d+|conv)(_rate|_latency)?(_T\d+)?",
    k=r"\d+",
