# Sweep points and the functions of the sweep rules (workflow/rules/sweeps.smk).

import os
from types import SimpleNamespace

from bioclf import sweeps as _sweeps

SWEEP_STDP = _sweeps.budget(config)
SWEEP_SUR = _sweeps.surrogate_budget(config)


def _sweep_sur_flags(net):
    """The main run's flags for network `net`, then the sweep budget (argparse: last one
    wins)."""
    flags = [sur_flags(SimpleNamespace(net=net))]
    for key, flag in (("epochs", "--epochs"), ("n_train", "--train-subset"),
                      ("n_test", "--test-subset")):
        if key in SWEEP_SUR:
            flags.append(f"{flag} {SWEEP_SUR[key]}")
    return " ".join(flags)


def sweep_sur_flags(w):
    return _sweep_sur_flags(w.net)


# The derived model files (named after their content) are written here; what else a point's
# results depend on is in its jobs' settings files (below), as for the main runs.
try:
    SWEEP_POINTS = _sweeps.plan(config, " + ".join(_CFG_SOURCES))
except BioclfError as _exc:
    _refuse(_exc)
# An STDP point's run configuration lies at one path whatever the configuration, and is written
# as the main runs' merged one is (CFG, common.smk): when a run starts, and here only where it
# is missing or in a cluster job (which runs what its run planned). Which derived files the
# points that a run makes are made with is recorded, and those of other configurations removed,
# when the run starts too (bioclf.sweeps.started), not here: a dry run with other values must
# leave the files of a run under way alone.
for _p in SWEEP_POINTS:
    if _p.method == "stdp" and (workflow.exec_mode != _ExecMode.DEFAULT or not _p.config.exists()):
        _sweeps.write_config(_p)


def _sweeps_started():
    for p in SWEEP_POINTS:
        if p.method == "stdp":
            _sweeps.write_config(p)
    _sweeps.started(SWEEP_POINTS, [f for job in workflow.dag.needrun_jobs() for f in job.output])


# The points checked as the configured models are (`_check_models`: a surrogate point's neuron
# compiled, an STDP point's models against its protocol): `plan` only loads each derived file
# (every job parses this file, and PyTorch takes seconds to import).
MODEL_CHECKS.append(lambda dt, steps: _sweeps.check_points(
    config, SWEEP_POINTS, dt, steps, _CHECKED, " + ".join(_CFG_SOURCES)
))


# (Only where sweeps are configured: `needrun_jobs` is Snakemake's own DAG, not its API.)
if SWEEP_POINTS:
    ONSTART.append(_sweeps_started)
# The settings files of values not in this configuration go to their points' directories (or,
# where a point has no results, away), whether or not sweeps are configured; a value that comes
# back takes them back (`restore_settings`, below).
ONSTART.append(lambda: _sweeps.put_away_settings(SWEEP_POINTS))


def sweep_point(w, method):
    """The `bioclf.sweeps.Point` of a job's wildcards."""
    for p in SWEEP_POINTS:
        if (p.file.stem, p.parameter, _sweeps.slug(p.value), p.method) == (
            w.sfile, w.sparam, w.svalue, method
        ):
            return p
    raise ValueError(f"no {method} sweep point {w.sfile}/{w.sparam}/{w.svalue}")


def sweep_model_files(w, method):
    """The derived model files of a point and every file they extend (an STDP point's: and the
    other model files of the configuration)."""
    p = sweep_point(w, method)
    files = {os.path.normpath(f) for m in p.models.values() for f in _model_files(m)}
    files |= {str(f) for f in p.texts}
    if method == "stdp":
        files |= set(STDP_MODELS)
    return sorted(files)


# Each sweep job's settings file (results/.settings/<rule>/<file>/<parameter>/<value>/<job>.json,
# `settings` in common.smk): the values its results depend on, and nothing else, so that a
# changed value reruns exactly the points that read it.
SWEEP_POINT_JOB = "{sfile}/{sparam}/{svalue}/"


def sweep_stdp_settings(rule, stage):
    """An STDP point's values of its run configuration that `stage` depends on (those the main
    runs' settings files hold, `bioclf.config.stdp_settings`)."""
    return settings(rule, f"{SWEEP_POINT_JOB}n{{n}}_seed{{seed}}", lambda w: (
        _bioclf_config.stdp_settings(sweep_point(w, "stdp").run_config, w.n, stage)
    ), _sweeps.restore_settings)


def sweep_sur_settings(rule):
    """A surrogate point's network's options (those of the other networks are not its)."""
    return settings(rule, f"{SWEEP_POINT_JOB}{{net}}_seed{{seed}}",
                    lambda w: {"flags": _sweep_sur_flags(w.net)}, _sweeps.restore_settings)


def sweep_targets():
    """The metrics file of every run of every sweep point."""
    out = []
    for p in SWEEP_POINTS:
        if p.method == "surrogate":
            out += expand(f"{p.directory}/{{net}}/seed{{seed}}/metrics.json", net=SUR_NETS,
                          seed=SEEDS)
        else:
            out += expand(f"{p.directory}/n{SWEEP_STDP['n']}/seed{{seed}}/test/metrics.json",
                          seed=SEEDS)
    return out


def sweep_stdp_cfg(w):
    """The derived run configuration of an STDP point."""
    return str(sweep_point(w, "stdp").config)


wildcard_constraints:
    sfile=r"[^/]+",
    sparam=r"[^/]+",
    svalue=r"[^/]+",
