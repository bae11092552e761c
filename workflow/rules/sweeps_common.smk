# Sweep points and the functions of the sweep rules (workflow/rules/sweeps.smk).

import os

from bioclf import sweeps as _sweeps

try:
    SWEEP_POINTS = _sweeps.plan(config, CFG)
except BioclfError as _exc:
    _refuse(_exc)
# The derived files of other configurations go when a run starts (bioclf.sweeps.prune), not
# here: a dry run with other values must leave the files of a run under way alone.
ONSTART.append(lambda: _sweeps.prune(SWEEP_POINTS))
SWEEP_STDP = _sweeps.budget(config)
SWEEP_SUR = _sweeps.surrogate_budget(config)


def sweep_point(w, method):
    """The `bioclf.sweeps.Point` of a job's wildcards."""
    for p in SWEEP_POINTS:
        if (p.file.stem, p.parameter, _sweeps.slug(p.value), p.method) == (
            w.sfile, w.sparam, w.svalue, method
        ):
            return p
    raise ValueError(f"no {method} sweep point {w.sfile}/{w.sparam}/{w.svalue}")


def sweep_model_files(w, method):
    """The derived files of a point and every file they extend."""
    p = sweep_point(w, method)
    files = {os.path.normpath(f) for m in p.models.values() for f in _model_files(m)}
    if method == "stdp":
        files |= set(STDP_MODELS) | {str(p.config)}
    return sorted(files)


def sweep_sur_flags(w):
    """The main run's flags for this network, then the sweep budget (argparse: last one wins)."""
    flags = [sur_flags(w)]
    for key, flag in (("epochs", "--epochs"), ("n_train", "--train-subset"),
                      ("n_test", "--test-subset")):
        if key in SWEEP_SUR:
            flags.append(f"{flag} {SWEEP_SUR[key]}")
    return " ".join(flags)


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
