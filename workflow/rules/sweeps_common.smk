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


# The surrogate points' files include the options of every network (runs.json), so that a
# changed option or budget reruns them, with or without Snakemake's record of parameters.
try:
    SWEEP_POINTS = _sweeps.plan(config, CFG, runs={
        "surrogate": _bioclf_config.settings_text({n: _sweep_sur_flags(n) for n in SUR_NETS}),
    })
except BioclfError as _exc:
    _refuse(_exc)
# Which derived files the points that a run makes are made with is recorded, and those of other
# configurations removed, when the run starts (bioclf.sweeps.started), not here: a dry run with
# other values must leave the files of a run under way alone.
# (Only where sweeps are configured: `needrun_jobs` is Snakemake's own DAG, not its API.)
if SWEEP_POINTS:
    ONSTART.append(lambda: _sweeps.started(
        SWEEP_POINTS, [f for job in workflow.dag.needrun_jobs() for f in job.output]
    ))


def sweep_point(w, method):
    """The `bioclf.sweeps.Point` of a job's wildcards."""
    for p in SWEEP_POINTS:
        if (p.file.stem, p.parameter, _sweeps.slug(p.value), p.method) == (
            w.sfile, w.sparam, w.svalue, method
        ):
            return p
    raise ValueError(f"no {method} sweep point {w.sfile}/{w.sparam}/{w.svalue}")


def sweep_model_files(w, method):
    """The derived files of a point (the model files, an STDP point's configuration, the
    surrogate networks' options) and every file the model files extend."""
    p = sweep_point(w, method)
    files = {os.path.normpath(f) for m in p.models.values() for f in _model_files(m)}
    files |= {str(f) for f in p.texts}
    if method == "stdp":
        files |= set(STDP_MODELS)
    return sorted(files)


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
