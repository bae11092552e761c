"""Loading and validating ``config/config.yaml`` (and the other configurations).

The same check runs in the Snakefile (before any job starts) and in every ``python -m`` task,
so a bad value is refused up front with the key named: the schema, the quantities, the model
files named, sample counts against the data, the protocol, schedules, shards and sweeps.
`job_file` gives the file the workflow's jobs read, `write_job_file` writes it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from bioclf.equations.quantities import evaluate_quantity
from bioclf.errors import THE_CONFIGURATION, ConfigError, closest
from bioclf.io import model_file_problem, read_yaml, write_if_changed

SCHEMA = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"

#: Keys holding Brian2 quantities, with the unit they must have.
QUANTITIES = {
    ("stdp", "protocol", "dt"): "second",
    ("stdp", "protocol", "present"): "second",
    ("stdp", "protocol", "rest"): "second",
    ("stdp", "protocol", "max_rate"): "hertz",
    ("surrogate", "dt"): "second",
    ("surrogate", "max_rate"): "hertz",
    ("neuron_check", "dt"): "second",
    ("neuron_check", "duration"): "second",
}


def _schema() -> dict:
    path = SCHEMA
    if not path.exists():  # installed without the repository around it
        path = Path(str(resources.files("bioclf"))) / "schema.yaml"
    return yaml.safe_load(path.read_text())


def _get(config: dict, keys: tuple[str, ...]):
    node = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _finite_numbers(node, path: str | Path, key: str = "") -> None:
    """Refuse a NaN or infinite number (YAML's ``.nan``, ``.inf``): the schema's ranges let NaN
    through (every comparison with it is false), and JSON, which the settings files are, has
    neither."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(path, key or "(top level)", f"must be a finite number, got {node}")
    if isinstance(node, dict | list):
        for k, value in node.items() if isinstance(node, dict) else enumerate(node):
            _finite_numbers(value, path, f"{key}.{k}" if key else str(k))


def _number_as_text_hint(value) -> str:
    """How to write `value`, text that reads as a number, so that YAML reads a number.

    PyYAML (YAML 1.1) takes an exponent form for a number only with a '.' and a signed
    exponent: ``lr: 1e-3`` is the text '1e-3', which the schema's "is not of type 'number'"
    alone leaves the user to puzzle over. Empty for any other value.
    """
    if not isinstance(value, str):
        return ""
    try:
        plain = format(Decimal(value.strip()), "f")
    except InvalidOperation:
        return ""
    if not math.isfinite(float(value)):
        return ""
    mantissa, e, exponent = value.strip().lower().partition("e")
    if not e:
        return f" (read as text: write {plain} without quotes)"
    mantissa += "" if "." in mantissa else ".0"
    exponent = exponent if exponent[:1] in "+-" else f"+{exponent}"
    return (
        f" (read as text: YAML takes an exponent form for a number only with a '.' and a "
        f"signed exponent: write {mantissa}e{exponent} or {plain})"
    )


def command_line_values(values):
    """`--config` values with the numbers and booleans inside a section or list typed.

    Snakemake types a top-level ``--config key=value`` (int, then float, then ``True``/``False``)
    but reads a section or list (``surrogate={epochs: 2}``, ``seeds=[0,1]``) with YAML's
    BaseLoader, which gives every value inside as text; the same rule, applied to each of those
    values, makes them what they read as. Text that is no number stays text (``{backend: cpp}``).
    """
    if isinstance(values, dict):
        return {k: command_line_values(v) for k, v in values.items()}
    if isinstance(values, list):
        return [command_line_values(v) for v in values]
    if isinstance(values, str):
        for parse in (int, float):
            try:
                return parse(values)
            except ValueError:
                pass
        return {"True": True, "False": False, "true": True, "false": False}.get(values, values)
    return values


def validate(config: dict, path: str | Path = "config") -> dict:
    """Validate a configuration dict; raise `ConfigError` naming the offending key."""
    _finite_numbers(config, path)
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        hint = ""
        if err.validator == "required":
            hint = " (a configuration file is complete: start from a copy of config/config.yaml)"
        if err.validator == "type":
            hint = _number_as_text_hint(err.instance)
        if err.validator == "additionalProperties":
            key, message = _unknown_key(err, key)
            raise ConfigError(path, key, message)
        raise ConfigError(path, key, err.message + hint)
    from brian2 import units

    for keys, unit in QUANTITIES.items():
        text = _get(config, keys)
        if text is None:
            continue
        key = ".".join(keys)
        try:
            value = evaluate_quantity(text)
        except ValueError as exc:
            raise ConfigError(path, key, str(exc)) from None
        if value.dim is not getattr(units, unit).dim or float(value) <= 0:
            raise ConfigError(path, key, f"must be a positive quantity in {unit}, got {text!r}")
    # Every model file the configuration names, by its field.
    files = {f"stdp.models.{k}": m for k, m in (_get(config, ("stdp", "models")) or {}).items()}
    sizes = _get(config, ("stdp", "sizes")) or []
    for i, size in enumerate(sizes):
        for j, phase in enumerate(size.get("schedule", [])):
            for name, model in phase["models"].items():
                files[f"stdp.sizes.{i}.schedule.{j}.models.{name}"] = model
    for keys in (("surrogate", "neuron"), ("neuron_check", "model")):
        if _get(config, keys) is not None:
            files[".".join(keys)] = _get(config, keys)
    for key, model in files.items():
        if problem := model_file_problem(model):
            raise ConfigError(path, key, problem)
    _sample_counts(config, path)
    _named_runs(config, path)
    _distinct_runs(config, path)
    from bioclf.stdp import setup, shards

    try:
        setup.protocol(config)
    except ConfigError as exc:
        raise ConfigError(path, exc.field, exc.reason) from None
    for i, size in enumerate(sizes):
        setup.schedule(config, size["n"], size["epochs"], str(path), f"stdp.sizes.{i}.schedule")
    shards.check_config(config, path)
    if config.get("sweeps"):
        from bioclf import sweeps  # imports the equation loader, needed only here

        sweeps.plan(config, path, write=False)
    return config


def _unknown_key(err: jsonschema.ValidationError, section: str) -> tuple[str, str]:
    """(field, reason) of a key the schema does not have, named in full (``stdp.ntrain``, not
    the section ``stdp``), with the section's keys and the closest one (a typo)."""
    known = list(err.schema.get("properties", {}))
    unknown = next((k for k in err.instance if k not in known), None)
    if unknown is None:  # (no schema of this file's: keys allowed by a pattern)
        return section, err.message
    close = closest(str(unknown), known)
    field = str(unknown) if section == "(top level)" else f"{section}.{unknown}"
    where = "at the top level" if section == "(top level)" else f"of {section}"
    guess = f"did you mean '{close[0]}'? " if close else ""
    return field, f"unknown key ({guess}the keys {where}: {', '.join(known)})"


def surrogate_run_name(run: dict) -> str:
    """Directory name of a surrogate run: ``fc100``, or ``fc100_latency_T25`` when the run sets
    its input code or window (the pipeline's ``net`` wildcard)."""
    name = f"{run['arch']}{run.get('hidden', '')}"
    if "encoding" in run:
        name += f"_{run['encoding']}"
    if "time_steps" in run:
        name += f"_T{run['time_steps']}"
    return name


def twin_runs(runs: list[dict]) -> list[dict]:
    """The runs with a non-spiking twin of their own: a twin sees analog pixels in one pass, so
    the input code and window of a run do not change it, and runs named after them
    (``fc100_latency_T25``) share the twin of the plain run."""
    return [r for r in runs if "encoding" not in r and "time_steps" not in r]


def _named_runs(config: dict, path) -> None:
    """Refuse a network of ``surrogate.runs`` whose name (`surrogate_run_name`) the workflow
    cannot make: an ``fc`` run is named by its ``hidden`` size (``fc100``), a ``conv`` run by
    its arch alone. Without this check such a run (``{arch: fc}``, ``{arch: conv, hidden:
    100}``) matched none of the rules, and a run planned nothing for it: "Nothing to be done"
    where the results of another configuration were there."""
    for i, run in enumerate(_get(config, ("surrogate", "runs")) or []):
        if run["arch"] == "fc" and "hidden" not in run:
            raise ConfigError(
                path,
                f"surrogate.runs.{i}.hidden",
                "missing: an fc network states its hidden layer's size (e.g. hidden: 100), "
                "which names its results directory (results/surrogate/fc100/)",
            )
        if run["arch"] == "conv" and "hidden" in run:
            raise ConfigError(
                path,
                f"surrogate.runs.{i}.hidden",
                "only for fc networks: a conv network's fully connected layer is conv_hidden",
            )


def _distinct_runs(config: dict, path) -> None:
    """Refuse two runs that would write to one directory: two sizes of ``stdp.sizes`` with the
    same N, or two networks of ``surrogate.runs`` with the same name (`surrogate_run_name`:
    arch, hidden, encoding and time steps; the other options do not name it). The workflow
    took the first for both, so the second never ran and the report listed the first twice."""
    first: dict[str, int] = {}
    for i, size in enumerate(_get(config, ("stdp", "sizes")) or []):
        j = first.setdefault(str(size["n"]), i)
        if j != i:
            raise ConfigError(
                path, f"stdp.sizes.{i}", f"N={size['n']} is stdp.sizes.{j} already (one run per N)"
            )
    first = {}
    for i, run in enumerate(_get(config, ("surrogate", "runs")) or []):
        name = surrogate_run_name(run)
        j = first.setdefault(name, i)
        if j != i:
            raise ConfigError(
                path,
                f"surrogate.runs.{i}",
                f"would run in results/surrogate/{name}/, as surrogate.runs.{j} does (a run's "
                "directory is named by arch, hidden, encoding and time_steps only): give it "
                "another of these, or run it with a configuration of its own",
            )


#: Sample counts of the configuration, and the split they take their samples from.
SAMPLE_COUNTS = {
    ("stdp", "n_train"): "train",
    ("stdp", "n_assign"): "train",
    ("stdp", "n_test"): "test",
    ("sweep_budget", "stdp", "n_train"): "train",
    ("sweep_budget", "stdp", "n_assign"): "train",
    ("sweep_budget", "stdp", "n_test"): "test",
    ("surrogate", "n_train"): "train",
    ("surrogate", "n_test"): "test",
    ("sweep_budget", "surrogate", "n_train"): "train",
    ("sweep_budget", "surrogate", "n_test"): "test",
    ("surrogate", "export", "n_test"): "test",
}


def _sample_counts(config: dict, path) -> None:
    """Refuse a sample count above the size of its split, where the data is already there (the
    tasks refuse it too, `bioclf.stdp.setup.data` and `bioclf.surrogate.data.load_data`, where
    it is not)."""
    from bioclf.data.datasets import split_size

    root = _get(config, ("data", "root"))
    sizes = {split: split_size(root, split) for split in ("train", "test")}
    for keys, split in SAMPLE_COUNTS.items():
        n, size = _get(config, keys), sizes[split]
        if n is not None and size is not None and n > size:
            raise ConfigError(
                path,
                ".".join(keys),
                f"asks for {n} {split} samples; the data set in {root} has {size}",
            )


def build_folder(config: dict, path: str | Path = THE_CONFIGURATION) -> Path:
    """The configuration's ``build`` (where compiled Brian2 projects go), refused naming it
    where no directory can be made there (a file, a folder that cannot be written): checked
    by the tasks that compile, before they build; not by `validate`, as a cluster's
    ``build`` may exist only on its nodes."""
    import argparse

    from bioclf import tasks

    try:
        return tasks.out_dir(str(config.get("build", "build")))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(path, "build", str(exc)) from None


def read(path: str | Path) -> dict:
    """A configuration file's values, not yet validated (`validate`)."""
    path = Path(path)
    config = read_yaml(path, ConfigError)  # a key given twice refused, naming it
    if not isinstance(config, dict):
        raise ConfigError(path, "(top level)", "must be a mapping")
    return config


def load(path: str | Path) -> dict:
    """Read and validate a configuration file."""
    return validate(read(path), path)


def job_file(config: dict, sources: list[str], merged: str | Path) -> tuple[str, str | None]:
    """The file that holds `config` for the tasks a workflow runs, and the text it must hold.

    `sources` are the files (and ``--config``) the workflow merged into `config`. Where that
    is one file, unchanged, the file itself and None (nothing to write); otherwise `merged` and
    the merged configuration, which `write_job_file` writes. (The jobs name the path in their
    commands, not their parameters: a changed path alone runs none again.) Nothing is written
    here: the workflow writes the file when a run starts (it holds the working directory's lock
    then), so that a dry run, or a run refused because another one is running, does not change
    what that other run's jobs read.
    """
    if len(sources) == 1 and yaml.safe_load(Path(sources[0]).read_text()) == config:
        return sources[0], None
    # file names only: a cluster job may name the same files by other paths
    names = " + ".join(Path(x).name if x != "--config" else x for x in sources)
    return str(merged), f"# written by the workflow: {names}\n" + yaml.safe_dump(config)


#: A character a shell reads as syntax (a space, a quote, ``$``, ``~``, ...): neither a letter nor
#: a digit, non-ASCII ones included, nor one of shlex's safe ``_@%+=:,./-``.
_SHELL_SYNTAX = re.compile(r"[^\w@%+=:,./-]")


def shell_word(text: str) -> str:
    """`text` as one argument of a job's shell command: unchanged where a shell reads it so,
    else quoted (`shlex.quote`). Unlike `shlex.quote`, a path with a non-ASCII letter
    (``data/mnïst``) stays as it is: quoting it would change the commands and settings files
    that Snakemake compares with its record, and so rerun every finished job that takes it."""
    text = str(text)
    return text if text and not _SHELL_SYNTAX.search(text) else shlex.quote(text)


def check_command_paths(config: dict, path: str | Path = "config") -> None:
    """Refuse (`ConfigError`) a path of `config` that the workflow's commands take as it is,
    where a shell would not take it so (`shell_word`): ``surrogate.neuron``, the surrogate
    rules' ``{input.neuron}``, unquoted there (quoting it would change the rules' code, which
    Snakemake compares with its record, rerunning every surrogate job already run). A swept
    file's name is refused by `bioclf.sweeps.plan`; the other paths are quoted."""
    neuron = str(config["surrogate"]["neuron"])
    if shell_word(neuron) != neuron:
        raise ConfigError(
            path,
            "surrogate.neuron",
            f"{neuron!r}: the surrogate jobs' commands take this path as it is; give one "
            "without spaces or shell characters (copy or link the file)",
        )


def write_job_file(path: str | Path, text: str | None) -> None:
    """Write `text` (from `job_file`) to `path`, atomically, unless the file holds it already
    (an unchanged file is left alone, so that its time stamp stays). None writes nothing."""
    if text is not None:
        write_if_changed(path, text)


class SettingsWrites:
    """Settings files written as a run plans its jobs, each with what it held before, so that
    a run that ends before its jobs start gives them back (`undo`).

    Snakemake plans a run (and so writes the settings files that changed) before the run's
    checks refuse bad input, and before it takes the working directory's lock. A refused run,
    or one that finds another under way, would otherwise leave the files of values that were
    never run: the next run would make again the results they describe, and a run under way
    would find its results stale. The workflow calls `keep` when its checks have passed, and
    `undo` as its process ends."""

    def __init__(self) -> None:
        self._before: dict[Path, tuple[bytes, os.stat_result] | None] = {}
        self._kept = False

    def remember(self, path: str | Path) -> None:
        """Keep what `path` holds now (its text and time stamp; None where there is no file)
        for `undo`, unless it is kept already or the run has started (`keep`): call it before
        changing the file."""
        path = Path(path)
        if path not in self._before and not self._kept:
            self._before[path] = (path.read_bytes(), path.stat()) if path.exists() else None

    def write(self, path: str | Path, text: str) -> None:
        """`write_job_file`, remembering what a file it changes held."""
        if not (Path(path).exists() and Path(path).read_text() == text):
            self.remember(path)
        write_job_file(path, text)

    def keep(self) -> None:
        """The run goes ahead: what was written, and is written from now on, stays."""
        self._before.clear()
        self._kept = True

    def undo(self) -> None:
        """Give each file written its old text and time stamp back; remove those that were
        new."""
        for path, before in self._before.items():
            if before is None:
                path.unlink(missing_ok=True)
            else:
                text, stamp = before
                path.parent.mkdir(parents=True, exist_ok=True)
                write_if_changed(path, text.decode())
                os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        self._before.clear()


#: STDP settings that change no result: how the jobs run (the backend is in the run's path;
#: threads, samples per compiled run, jobs per stage: results do not depend on them, as
#: tests/test_stdp_shards.py and tests/test_checkpoint.py show).
_STDP_RUNNING = ("backend", "threads", "chunk", "shards")
#: The settings of the stages after training, and the stages that read each.
_STDP_STAGES = {"n_assign": ("assign", "evaluate"), "n_test": ("respond", "evaluate")}
_STDP_STAGES_ALL = ("train", "frozen", "assign", "respond", "evaluate")


def stdp_settings(config: dict, n: int, stage: str) -> dict:
    """The configuration values that the STDP results of network size `n` depend on.

    `stage` is ``train`` (the trained network), ``frozen`` (a frozen run of it: the raster),
    ``assign``, ``respond`` or ``evaluate``; each holds the values of the stages before it.
    The workflow writes them to each job's settings file (`settings_text`), an input of the
    job, so that changing one of them in a configuration file reruns exactly those jobs.
    """
    if stage not in _STDP_STAGES_ALL:
        raise ValueError(f"stage must be one of {_STDP_STAGES_ALL}, got {stage!r}")
    stdp = config["stdp"]
    protocol = _protocol_values(config)
    # frozen runs only
    reset = protocol.pop("reset_between_samples")
    skip = {*_STDP_RUNNING, *_STDP_STAGES, "sizes", "protocol"}
    values = {k: v for k, v in stdp.items() if k not in skip}
    values["size"] = next(s for s in stdp["sizes"] if int(s["n"]) == int(n))
    values["protocol"] = protocol
    if stage != "train":
        protocol["reset_between_samples"] = reset
        values.update({k: stdp.get(k) for k, stages in _STDP_STAGES.items() if stage in stages})
    return {"data": data_values(config), "stdp": values}


def _plain(value):
    """A protocol value as JSON compares it: a quantity as its SI number, to 12 digits (so that
    ``0.5*ms`` and ``500*us`` are one value), a float as a float (``2`` and ``2.0``)."""
    if isinstance(value, bool | str | int):
        return value
    return float(f"{float(value):.12g}")


def _protocol_values(config: dict) -> dict:
    """Every value of the STDP protocol as the runs use it (`bioclf.stdp.setup.protocol`): a
    key left out is its default, so that stating a default and leaving it out are one run."""
    import dataclasses

    from bioclf.stdp import setup

    proto = setup.protocol(config)
    return {f.name: _plain(getattr(proto, f.name)) for f in dataclasses.fields(proto)}


#: The data section's optional keys and the value that leaving one out means.
DATA_DEFAULTS = {"name": "mnist", "url": None, "checksums": None}


def data_values(config: dict) -> dict:
    """The data section with its defaults filled in (an empty ``url`` or ``checksums`` is
    none), so that stating a default and leaving it out are one run."""
    data = {**DATA_DEFAULTS, **config["data"]}
    return {k: v or DATA_DEFAULTS.get(k, v) for k, v in data.items()}


def neuron_check_values(config: dict) -> dict:
    """The neuron check's section as its job's settings hold it: a quantity as its SI number
    (`_plain`: ``10*us`` is ``0.01*ms``) and the model file's path normalised, so that one
    value however written is one run."""
    section = dict(config["neuron_check"])
    for key in ("dt", "duration"):
        if key in section:
            section[key] = _plain(quantity(config, "neuron_check", key))
    section["model"] = os.path.normpath(section["model"])
    return {"neuron_check": section}


def neuron_check_backends(config: dict) -> list[str]:
    """The simulators the neuron check runs on: ``neuron_check.backends``, runtime where the
    configuration names none (read by the task and by the workflow's GPU claim alike)."""
    return list(config["neuron_check"].get("backends", ["runtime"]))


#: Where the workflow keeps the jobs' settings files (`settings_text`), one directory per rule,
#: relative to its working directory.
SETTINGS = Path("results") / ".settings"


def settings_text(values: dict) -> str:
    """The text of a job's settings file: `values` as sorted JSON, so that equal values give
    an equal file (`write_job_file` then leaves it alone, and no job runs again)."""
    return json.dumps(values, sort_keys=True, indent=1, default=str, allow_nan=False) + "\n"


def _normalised(values: dict) -> dict:
    """Settings values (`stdp_settings`) as this version writes them, from those an earlier
    one wrote: the protocol, the data and the neuron check as the configuration stated them."""
    out = dict(values)
    if isinstance(out.get("data"), dict):
        out["data"] = data_values(out)
    if isinstance(out.get("neuron_check"), dict):  # (quantities as written)
        out.update(neuron_check_values(out))
    stdp = out.get("stdp")
    if isinstance(stdp, dict) and isinstance(stdp.get("protocol"), dict):
        given = stdp["protocol"]
        protocol = _protocol_values({"stdp": {"protocol": given}})
        if "reset_between_samples" not in given:  # (a training stage's)
            del protocol["reset_between_samples"]
        out["stdp"] = {**stdp, "protocol": protocol}
    return out


#: Values added to settings files, and what files written before held them at: the surrogate
#: training's neuron file (every committed configuration's; a user's other file reruns its
#: jobs once).
_ADDED = {"neuron": "equations/lif.yaml"}


def carry_over(path: str | Path, text: str, dry_run: bool) -> bool:
    """Whether the settings file `path` holds the values of `text` (`settings_text`) as an
    earlier version wrote them (a protocol key at its default left out, ``0.5*ms`` as written):
    then the file is given `text` with its time stamp kept (not in a dry run, which changes no
    settings file), so that the results it describes stay current and are not made again."""
    path = Path(path)
    if not path.exists():
        return False
    old = path.read_text()
    if old == text:
        return True
    try:
        now, before = json.loads(text), _normalised(json.loads(old))
        # keys added to a job's values since: an earlier file held them at what they were then
        before.update({k: v for k, v in _ADDED.items() if k in now and k not in before})
        same = json.loads(settings_text(before)) == now
    except Exception:  # not such a file, or values this version refuses: not the same
        return False
    if same and not dry_run:
        stamp = path.stat()
        write_if_changed(path, text)
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    return same


def quantity(config: dict, *keys: str):
    """A validated quantity value of the configuration."""
    return evaluate_quantity(_get(config, keys))
