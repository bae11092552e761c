"""Parameter sweeps: one derived model file per value of one parameter of one equation file.

A sweep in the configuration (``sweeps:``) names an equation file, one of its parameters and a
list of values::

    sweeps:
      - {file: equations/lif.yaml, parameter: tau_m, values: [10*ms, 20*ms, 50*ms]}

Each value becomes a file under
``results/sweeps/<file stem>/<parameter>/<value>/<method>/derived/<digest>/`` holding only
``extends: <the model file in use>`` and the one parameter, so the ordinary loader validates it
and equations/ is never touched. The methods a file affects are derived from the configuration:
the surrogate network when the file is ``surrogate.neuron`` or a file it extends, STDP when it
is one of ``stdp.models`` (or a file one of them extends). An STDP point gets a run
configuration too, ``config.yaml`` in the point's directory (the derived model files, a build
directory of its own and the reduced budget of ``sweep_budget.stdp``), which the workflow
writes when a run starts, as it does the merged configuration of the main runs.

What else a point's results depend on is in each job's settings file, as for the main runs
(``results/.settings/sweep_<rule>/<file stem>/<parameter>/<value>/<job>.json``: an STDP job's
values of its configuration, `bioclf.config.stdp_settings`, a surrogate job's options), so that
changing a value reruns exactly the points whose results read it: not the STDP points for a
surrogate option, the seeds or another sweep, not a network's points for another network.
Those of values no longer configured are put away when a run starts (`put_away_settings`), and
come back with their value (`restore_settings`).

The derived model files are named after their content (``<digest>``) and never rewritten: the
workflow writes them when it is parsed, which every dry run does, and a dry run (or a run that
the working directory's lock refuses) with another configuration must not change what the jobs
of a run under way read. Another configuration writes files of its own, new (so newer than the
point's results, which Snakemake then makes again), and leaves the earlier ones as they are:
going back to those after a dry run reruns nothing. When a run starts (it holds the lock then),
`started` records, for each point it runs, which files its results are made with
(``derived/current``) and removes those of other configurations (and the files of the layout
before, loose in the point's directory); files other than those recorded are made newer than
the results when planned, so that a change of model file reruns the points, with or without
Snakemake's record.

A swept value must be one the model can mean: in the parameter's unit, a time never negative,
and any other value (potentials aside) of the sign of the file's own, not zero where the file's
is not (a resistance, a weight bound or a learning rate of 0 is no variation of the model but
another one); the loader then refuses what it refuses in any file (a time constant of 0, a
reset that leaves v on or above the threshold, an adaptive threshold that falls at each spike:
``theta_plus`` < 0), on derived files in a temporary directory. Every value of every sweep is
checked before anything is written: a refused configuration leaves results/ as it was. When a
run starts (and in a dry run) the workflow checks the points as it does the configured models
(`check_points`: a surrogate point's neuron compiled, an STDP point's models against its
protocol), which `plan`, run as every job parses the workflow, leaves alone (PyTorch's import).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml
from brian2.units.allunits import second, volt
from brian2.units.fundamentalunits import Quantity, get_dimensions

from bioclf.config import SETTINGS, shell_word
from bioclf.equations import load_model, model_files
from bioclf.equations.quantities import evaluate_quantity
from bioclf.errors import THE_CONFIGURATION, BioclfError, ConfigError
from bioclf.io import write_if_changed

ROOT = Path("results") / "sweeps"
METHODS = ("surrogate", "stdp")


@dataclasses.dataclass(frozen=True)
class Point:
    """One value of one sweep, for one method."""

    file: Path  # the swept equation file
    parameter: str
    value: str  # as written in the configuration
    quantity: Quantity
    method: str  # 'surrogate' or 'stdp'
    models: dict[str, Path]  # role ('neuron', or an stdp.models role) -> derived model file
    derived: Path  # the directory of the derived files, named after their content
    texts: dict[Path, str]  # derived file -> its text
    run_config: dict | None = None  # STDP points: the run configuration (`derived_config`)
    field: str = ""  # the value's key in the configuration, 'sweeps.0.values.1'
    used: dict[str, Path] = dataclasses.field(default_factory=dict)  # role -> the model in use

    @property
    def directory(self) -> Path:
        return directory(self.file, self.parameter, self.value, self.method)

    @property
    def config(self) -> Path:
        """The run configuration's file (STDP points only; `write_config` writes it)."""
        return self.directory / "config.yaml"


def directory(file: Path, parameter: str, value: str, method: str) -> Path:
    """The directory of a sweep point's runs."""
    return ROOT / Path(file).stem / parameter / slug(value) / method


def slug(value: str) -> str:
    """A directory name for a value: ``10*ms`` -> ``10ms``, ``1/ms`` -> ``1_per_ms``."""
    text = str(value).replace(" ", "").replace("**", "^").replace("*", "").replace("/", "_per_")
    return re.sub(r"[^A-Za-z0-9._+^-]", "_", text)


def _unit_name(q: Quantity) -> str:
    dim = get_dimensions(q)
    return "a plain number" if dim.is_dimensionless else f"a quantity in {dim}"


def _same(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def budget(config: dict) -> dict:
    """STDP sweep budget: ``sweep_budget.stdp``, unset keys from the ``stdp`` section."""
    stdp = config["stdp"]
    given = (config.get("sweep_budget") or {}).get("stdp") or {}
    return {
        "n": given.get("n", stdp["sizes"][0]["n"]),
        "epochs": given.get("epochs", stdp["sizes"][0]["epochs"]),
        "n_train": given.get("n_train", stdp["n_train"]),
        "n_assign": given.get("n_assign", stdp["n_assign"]),
        "n_test": given.get("n_test", stdp["n_test"]),
    }


def surrogate_budget(config: dict) -> dict:
    """Surrogate sweep budget: ``sweep_budget.surrogate`` (epochs, n_train, n_test)."""
    return dict((config.get("sweep_budget") or {}).get("surrogate") or {})


def derived_text(base: Path, directory: Path, parameter: str, value: str) -> str:
    """The text of a derived model file placed in `directory`."""
    rel = os.path.relpath(Path(base).resolve(), Path(directory).resolve())
    return (
        f"# Written by bioclf.sweeps: {base} with {parameter} = {value}. Do not edit.\n"
        + yaml.safe_dump({"extends": rel, "parameters": {parameter: str(value)}}, sort_keys=False)
    )


def _users(config: dict, swept: Path) -> dict[str, dict[str, Path]]:
    """Method -> {role: model file in use} for the configured models that `swept` feeds."""
    users: dict[str, dict[str, Path]] = {}
    neuron = Path(config["surrogate"]["neuron"])
    if any(_same(f, swept) for f in model_files(neuron)):
        users["surrogate"] = {"neuron": neuron}
    for role, path in config["stdp"]["models"].items():
        if any(_same(f, swept) for f in model_files(path)):
            users.setdefault("stdp", {})[role] = Path(path)
    return users


def plan(config: dict, path: str | Path = "config", write: bool = True) -> list[Point]:
    """Check the configuration's sweeps and (with `write`) write their derived model files.

    Raises
    ------
    ConfigError
        Naming the sweep, for a missing file or parameter, a value of the wrong unit or sign, a
        file that no method uses, or one whose name needs quoting in a shell. A derived file
        the loader refuses is reported with the loader's message.
    """
    points: list[Point] = []
    stems: dict[str, Path] = {}
    seen_by: dict[tuple[str, str], dict] = {}
    for k, sweep in enumerate(config.get("sweeps") or []):
        key = f"sweeps.{k}"
        swept, name = Path(sweep["file"]), sweep["parameter"]
        if not swept.exists():
            raise ConfigError(path, f"{key}.file", f"file {swept} does not exist")
        if not _same(stems.setdefault(swept.stem, swept), swept):
            raise ConfigError(
                path,
                f"{key}.file",
                f"{swept} and {stems[swept.stem]} have the same name: their sweeps would share "
                f"results/sweeps/{swept.stem}/ (rename one)",
            )
        if shell_word(swept.stem) != swept.stem:  # (as the workflow's surrogate.neuron)
            raise ConfigError(
                path,
                f"{key}.file",
                f"{swept}: its name is in the paths of the sweep's runs, which the jobs' commands "
                "take as they are; give one without spaces or shell characters (copy the file)",
            )
        try:
            base = load_model(swept)
            users = _users(config, swept)
        except BioclfError as exc:
            raise ConfigError(path, f"{key}.file", str(exc)) from None
        if name not in base.parameters:
            raise ConfigError(
                path,
                f"{key}.parameter",
                f"{swept} (and the files it extends) has no parameter '{name}' "
                f"(it has {', '.join(base.parameters)})",
            )
        _schedule_unaffected(config, swept, path, key, "stdp" in users)
        if not users:
            raise ConfigError(
                path,
                f"{key}.file",
                f"{swept} is used by no method: it is neither surrogate.neuron (or a file it "
                "extends) nor one of stdp.models (or a file they extend)",
            )
        _not_overridden(config, swept, name, users, path, key)
        expected = base.parameters[name]
        # directory name -> (field, value, quantity), over every sweep of this parameter
        seen = seen_by.setdefault((swept.stem, name), {})
        for j, value in enumerate(sweep["values"]):
            field = f"{key}.values.{j}"
            try:
                q = evaluate_quantity(value)
            except ValueError as exc:
                raise ConfigError(path, field, f"{swept} {name}: {exc}") from None
            if get_dimensions(q) is not get_dimensions(expected):
                raise ConfigError(
                    path,
                    field,
                    f"{value!r} is not in the unit of {name} in {swept}: expected "
                    f"{_unit_name(expected)} (the file has {name} = {expected})",
                )
            meaningless = _meaningless(q, expected)
            if meaningless:
                raise ConfigError(
                    path,
                    field,
                    f"{value!r} for {name} of {swept} (the file has {name} = {expected}): "
                    f"{meaningless}",
                )
            for other, (where, text, earlier) in seen.items():
                # (to rounding: 0.1*ms and 100*us differ in the last bit)
                if other == slug(value) or math.isclose(float(earlier), float(q), rel_tol=1e-9):
                    raise ConfigError(
                        path,
                        field,
                        f"{value!r} repeats {where} ({text!r}): the same run twice, or two "
                        "runs in one directory",
                    )
            seen[slug(value)] = (field, value, q)
            for method, used in sorted(users.items()):
                _check_models(used, name, str(value), path, field)
                points.append(_point(config, swept, name, str(value), q, method, used, field))
    # only once every value of every sweep is known good: a refused one writes nothing
    if write:
        for point in points:
            _write_point(point)
    return points


def _meaningless(value: Quantity, given: Quantity) -> str | None:
    """Why a swept `value` of a parameter whose file has `given` is no variation of the model,
    or None: a negative time (a time constant, a refractory period, a delay), and, for anything
    but a potential (whose zero is a potential like another), a value of the other sign or 0
    where the file's is not (a resistance, a weight bound, a learning rate, a scale).

    A time of 0 is left to the loader, which refuses it where the model divides by it (a time
    constant) and takes it where that means none (a refractory period, a delay)."""
    v, g = float(value), float(given)
    dim = get_dimensions(value)
    if dim is second.dim:
        return "a time must not be negative" if v < 0 else None
    if dim is volt.dim or g == 0:
        return None
    if v == 0:
        return "0 turns it off: another model rather than a value of this one"
    if (v > 0) != (g > 0):
        return "the other sign than the file's: a sweep varies what it does, not reverses it"
    return None


def _schedule_unaffected(config: dict, swept: Path, path, key: str, stdp: bool) -> None:
    """Refuse a sweep of a file that a training schedule of the swept size uses (the points
    could not be run as the baseline is), and an STDP sweep whose budget leaves the schedule no
    room."""
    b = budget(config)
    for i, size in enumerate(config["stdp"]["sizes"]):
        if size["n"] != b["n"] or not size.get("schedule"):
            continue
        for j, phase in enumerate(size["schedule"]):
            for role, model in phase["models"].items():
                if any(_same(f, swept) for f in model_files(model)):
                    raise ConfigError(
                        path,
                        f"{key}.file",
                        f"{swept} feeds stdp.sizes.{i}.schedule.{j}.models.{role} ({model}): "
                        "sweeps of the files of a training schedule are not supported",
                    )
        scheduled = sum(p["epochs"] for p in size["schedule"])
        if stdp and scheduled >= b["epochs"]:
            raise ConfigError(
                path,
                "sweep_budget.stdp.epochs",
                f"{b['epochs']} epoch(s) at N={b['n']}, of which the schedule of "
                f"stdp.sizes.{i} takes {scheduled}: at least one must be left to stdp.models",
            )


def _defines(path: Path, name: str) -> bool:
    """Whether the model file `path` itself (not a file it extends) sets parameter `name`."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    return name in (data.get("parameters") or {})


def _not_overridden(config: dict, swept: Path, name: str, users: dict, path, key: str) -> None:
    """Refuse a sweep of a parameter that a file between `swept` and a model in use sets again:
    that file's value, not the swept one, would be run."""
    for used in users.values():
        for model in used.values():
            chain = model_files(model)  # the model in use first, then the files it extends
            k = next(i for i, f in enumerate(chain) if _same(f, swept))
            for f in chain[:k]:
                if _defines(f, name):
                    raise ConfigError(
                        path,
                        f"{key}.file",
                        f"{f}, which the run uses and which extends {swept}, sets {name} "
                        f"itself, so the swept values would not be run: sweep {f} instead",
                    )


#: Hexadecimal digits of the digest that names a point's derived files.
DIGEST = 12


def _point(
    config: dict,
    swept: Path,
    name: str,
    value: str,
    q: Quantity,
    method: str,
    used: dict,
    field: str = "",
) -> Point:
    """A point and the texts of its derived model files, in a directory named after them.

    Only the model files: what else the point's results depend on is in its jobs' settings
    files (the workflow's), so that a change of anything else reruns nothing of it."""
    base = directory(swept, name, value, method)

    # The texts as they would be in a directory `here` (their `extends:` is relative).
    def texts(here: Path) -> dict[str, str]:
        return {Path(m).name: derived_text(m, here, name, value) for m in used.values()}

    # Named after the texts with a placeholder directory (the directory's depth is fixed, so the
    # relative paths are those of the real one); the real texts differ from those only by it.
    digest = hashlib.sha256(repr(sorted(texts(base / "derived" / "_").items())).encode())
    derived = base / "derived" / digest.hexdigest()[:DIGEST]
    files = {derived / k: v for k, v in texts(derived).items()}
    models = {role: derived / Path(m).name for role, m in used.items()}
    run_config = derived_config(config, models, base) if method == "stdp" else None
    return Point(swept, name, value, q, method, models, derived, files, run_config, field, used)


#: The models `_check_models` has loaded in this process: (the files of the model in use and
#: their text, parameter, value).
_CHECKED: set[tuple[str, str, str]] = set()


def _check_models(used: dict[str, Path], name: str, value: str, path, field: str) -> None:
    """Load the models in use with `name` = `value` as the loader loads any file (a time
    constant of 0, a reset that defeats the threshold...), from derived files written to a
    temporary directory: nothing under results/ is written before every value is known good.
    """
    for model in used.values():
        content = "\0".join(f"{f.resolve()}\0{f.read_text()}" for f in model_files(model))
        key = (content, name, value)
        if key in _CHECKED:
            continue
        with tempfile.TemporaryDirectory(prefix="bioclf-sweep-") as tmp:
            derived = Path(tmp) / Path(model).name
            derived.write_text(derived_text(model, Path(tmp), name, value))
            try:
                load_model(derived)
            except BioclfError as exc:
                reason = str(exc).replace(str(derived), f"{model} with {name} = {value}")
                raise ConfigError(path, field, f"the derived model is refused: {reason}") from None
        _CHECKED.add(key)


def check_points(
    config: dict, points: list[Point], dt, time_steps, checked_dir, path="config"
) -> None:
    """Check every point as the workflow checks the configured models at its start: a
    surrogate point's derived neuron compiled (`bioclf.surrogate.compile.check_neuron`, at
    `dt`, against presentations of `time_steps` steps), an STDP point's models loaded together
    and checked against its protocol (`bioclf.stdp.network.check_protocol`: the rest period
    longer than the refractory periods and the input delays). `plan` loads each derived file
    alone (without PyTorch, which takes seconds to import: every job parses the workflow), so
    a ``t_ref`` as long as the presentation or a ``delay_max`` as long as the rest stopped only
    the point's job, minutes in. A point is checked again only when its files or the values
    the check reads change (`bioclf.checked`, in `checked_dir`).

    Raises
    ------
    ConfigError
        Naming the value's key (``sweeps.0.values.1``) and the reason.
    """
    from bioclf import checked

    for p in points:
        try:
            if p.method == "surrogate":
                checked.surrogate_neuron(checked_dir, p.models["neuron"], dt, time_steps)
            else:
                checked.stdp_protocol(checked_dir, p.run_config)
        except BioclfError as exc:
            reason = _point_reason(exc, p)
            raise ConfigError(path, p.field, f"the derived model is refused: {reason}") from None


def _point_reason(exc: BioclfError, point: Point) -> str:
    """`exc`'s message with the point's derived files named as the model in use and the value
    (``equations/lif.yaml with t_ref = 125*ms``); a value of the configuration (the rest
    period) by its key alone, in this configuration."""
    reason = str(exc)
    if isinstance(exc, ConfigError) and exc.path == THE_CONFIGURATION:
        reason = f"{exc.field} {exc.reason}"
    for role, derived in point.models.items():
        used = f"{point.used.get(role, derived.name)} with {point.parameter} = {point.value}"
        reason = reason.replace(str(derived), used)
    return reason


def _write_point(point: Point) -> None:
    for derived, text in point.texts.items():
        write_if_changed(derived, text)
    # Files of a configuration other than the one the point's results were last made with are
    # newer than those results, even where they were written before them (by a dry run while a
    # run was under way): Snakemake then makes them again, with or without its own record.
    made = _current(point)
    if made.exists() and made.read_text() != point.derived.name:
        for derived in point.texts:
            os.utime(derived)


def _current(point: Point) -> Path:
    """The file naming the derived files (digest) that the point's last run started with."""
    return point.derived.parent / "current"


def started(points: list[Point], outputs) -> None:
    """A run starts that makes `outputs` (paths): the points with results among them record
    their derived files as those the results are made with, and lose those of other
    configurations.

    The workflow calls this when a run starts: it holds the working directory's lock then, so
    no job of another run reads the files removed.
    """
    made = [Path(os.path.normpath(o)) for o in outputs]
    for p in points:
        if not any(o.is_relative_to(p.directory) for o in made):
            continue
        write_if_changed(_current(p), p.derived.name)
        for other in p.derived.parent.iterdir():
            if other.is_dir() and other.name != p.derived.name:
                shutil.rmtree(other)
        # the layout before derived/: the model files loose in the point's directory
        for model in p.models.values():
            if model.name != p.config.name:
                (p.directory / model.name).unlink(missing_ok=True)


def config_text(point: Point) -> str:
    """The text of an STDP point's run configuration file."""
    return "# Written by bioclf.sweeps for one sweep point. Do not edit.\n" + yaml.safe_dump(
        point.run_config, sort_keys=False
    )


def write_config(point: Point) -> None:
    """Write an STDP point's run configuration (`Point.config`) where its text differs.

    Not an input of the point's jobs (their settings files are), and at one path whatever the
    configuration, so that an unrelated change reruns nothing; the workflow writes it when a run
    starts (it holds the lock then), as it does the main runs' merged configuration."""
    write_if_changed(point.config, config_text(point))


def derived_config(config: dict, models: dict[str, Path], point_dir: Path) -> dict:
    """The run configuration of an STDP sweep point (derived model files `models`, runs in
    `point_dir`)."""
    cfg = copy.deepcopy(config)
    cfg.pop("sweeps", None)
    cfg.pop("sweep_budget", None)
    b = budget(config)
    stdp = cfg["stdp"]
    for role, derived in models.items():
        stdp["models"][role] = str(derived)
    # the schedule of the size, if any, as the baseline trains (it uses no swept file: `plan`)
    schedule = next((s.get("schedule") for s in stdp["sizes"] if s["n"] == b["n"]), None)
    stdp["sizes"] = [{"n": b["n"], "epochs": b["epochs"]}]
    if schedule:
        stdp["sizes"][0]["schedule"] = schedule
    stdp.update({k: b[k] for k in ("n_train", "n_assign", "n_test")})
    stdp["chunk"] = min(stdp["chunk"], b["n_train"])
    # a compiled project of its own, so that the points of a sweep can run in parallel
    cfg["build"] = str(Path(config.get("build", "build")) / point_dir.relative_to("results"))
    return cfg


def baseline(config: dict, swept: str | Path, parameter: str, method: str) -> Quantity:
    """The parameter's value in the model the method uses without the sweep."""
    if method == "surrogate":
        return load_model(config["surrogate"]["neuron"]).parameters[parameter]
    for path in config["stdp"]["models"].values():
        if any(_same(f, swept) for f in model_files(path)):
            return load_model(path).parameters[parameter]
    return load_model(swept).parameters[parameter]


def _settings_method(rule: str) -> str:
    return "stdp" if rule.startswith("sweep_stdp") else "surrogate"


def kept_settings(settings_file: Path) -> Path:
    """Where the settings file of a sweep job (``results/.settings/<rule>/<file>/<parameter>/
    <value>/<job>.json``) is kept while its value is not in the configuration: in the point's
    own directory, with the results it describes (``<point>/.settings/<rule>/<job>.json``)."""
    rule, stem, parameter, value, *job = Path(settings_file).relative_to(SETTINGS).parts
    point = ROOT / stem / parameter / value / _settings_method(rule)
    return point / ".settings" / rule / Path(*job)


def _has_results(point_dir: Path) -> bool:
    """Whether a point's directory holds anything a job made (not only what planning wrote)."""
    made = ("derived", "config.yaml", ".settings")
    return point_dir.is_dir() and any(p.name not in made for p in point_dir.iterdir())


def put_away_settings(points: list[Point]) -> list[Path]:
    """Take the settings files of sweep values that are not among `points` (values removed
    from the configuration, or of another configuration) out of ``results/.settings/``, where
    they would pass for the files of current points: into the point's directory
    (`kept_settings`) where it holds results, which stay; removed where it holds none. A value
    that comes back takes its files back (`restore_settings`), so its results, still current,
    are not made again. Returns the files taken away.

    The workflow calls this when a run starts (it holds the working directory's lock then)."""
    current = {(p.file.stem, p.parameter, slug(p.value), p.method) for p in points}
    moved = []
    for rule_dir in sorted(SETTINGS.glob("sweep_*")):
        method = _settings_method(rule_dir.name)
        for f in sorted(rule_dir.glob("*/*/*/*.json")):
            stem, parameter, value = f.relative_to(rule_dir).parts[:3]
            if (stem, parameter, value, method) in current:
                continue
            if _has_results(ROOT / stem / parameter / value / method):
                kept = kept_settings(f)
                kept.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, kept)  # its time stamp kept
            else:
                f.unlink()
            moved.append(f)
        for d in sorted(rule_dir.glob("**/"), key=lambda d: -len(d.parts)):
            if d != rule_dir and not any(d.iterdir()):
                d.rmdir()
    return moved


def restore_settings(settings_file: Path, text: str, dry_run: bool, writes=None) -> None:
    """A sweep job's settings file `settings_file`, missing, back from where
    `put_away_settings` kept it, where it holds `text` (the job's values now): with its time
    stamp, so that the point's results count as current. A dry run does this too (the file's
    content is what the job's would be, and at another path Snakemake's record would plan the
    job again). A kept file that holds other values is removed, except in a dry run: the job's
    new file replaces it. `writes` (`bioclf.config.SettingsWrites`) remembers the files
    changed, for a run that stops before its jobs to give them back."""
    settings_file = Path(settings_file)
    kept = kept_settings(settings_file)
    if settings_file.exists() or not kept.exists():
        return
    if writes is not None:
        writes.remember(kept)
        writes.remember(settings_file)
    if kept.read_text() == text:
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        os.replace(kept, settings_file)
    elif not dry_run:
        kept.unlink()
