"""Loading and validating ``config/config.yaml``.

The same check runs in the Snakefile (before any job starts) and in every ``python -m`` task,
so a bad value is refused up front with the key named.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from bioclf.equations.quantities import evaluate_quantity
from bioclf.errors import ConfigError
from bioclf.io import yaml_file_problem

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


def validate(config: dict, path: str | Path = "config") -> dict:
    """Validate a configuration dict; raise `ConfigError` naming the offending key."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(path, key, err.message)
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
        if not Path(model).exists():
            raise ConfigError(path, key, f"file {model} does not exist")
    from bioclf.stdp import setup, shards

    for i, size in enumerate(sizes):
        setup.schedule(config, size["n"], size["epochs"], str(path), f"stdp.sizes.{i}.schedule")
    shards.check_config(config, path)
    if config.get("sweeps"):
        from bioclf import sweeps  # imports the equation loader, needed only here

        sweeps.plan(config, path, write=False)
    return config


def load(path: str | Path) -> dict:
    """Read and validate a configuration file."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(path, *yaml_file_problem(exc)) from None
    if not isinstance(config, dict):
        raise ConfigError(path, "(top level)", "must be a mapping")
    return validate(config, path)


def quantity(config: dict, *keys: str):
    """A validated quantity value of the configuration."""
    return evaluate_quantity(_get(config, keys))
