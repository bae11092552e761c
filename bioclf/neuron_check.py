"""Verify a neuron model file against theory, or the simulators against each other.

    python -m bioclf.neuron_check --config config/config.yaml --out results/neuron

Where the membrane equation is linear in v and in the input current (`lif_check.analyse`), for
>= 10 constant currents above rheobase the simulated rate must match the analytic rate within
1 % (at the configured fine dt), be zero below rheobase, and no interspike interval may be
shorter than the refractory period -- on every configured backend. Where no closed form exists
(e.g. an adaptation current), the check is that every configured backend and the PyTorch neuron
compiled from the same file produce the same spikes, step for step, for the same currents; the
report says which check was done and why. Exits with status 1 when a check fails, so the
pipeline stops on a broken neuron; a duration too short for the analytic check (under three
interspike intervals at the lowest current) is a configuration error (exit 2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from brian2 import ms, second

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.brian import backends, lif_check
from bioclf.equations import load_neuron
from bioclf.equations.spec import NeuronModel
from bioclf.errors import ConfigError, UnsupportedConstructError
from bioclf.io import write_json


def _min_isi(min_isi: np.ndarray) -> float | None:
    """The shortest interspike interval (s) of all levels; None where no level fired twice (JSON
    has no infinity)."""
    shortest = float(min_isi.min()) if len(min_isi) else np.inf
    return shortest if np.isfinite(shortest) else None


#: The largest relative error of a simulated rate against the closed-form f-I curve that passes.
RATE_TOLERANCE = 0.01


def _analytic_checks(res) -> tuple[dict, bool]:
    above = res.analytic > 0
    rel = np.abs(res.simulated[above] - res.analytic[above]) / res.analytic[above]
    checks = {
        "levels_above_rheobase": int(above.sum()),
        "max_relative_rate_error": float(rel.max()),
        "silent_below_rheobase": bool(np.all(res.n_spikes[~above] == 0)),
        "min_isi_s": _min_isi(res.min_isi[above]),
        "refractory_respected": bool(np.all(res.min_isi[above] >= res.t_ref - 1e-12)),
    }
    passed = (
        checks["levels_above_rheobase"] >= 10
        and checks["max_relative_rate_error"] < RATE_TOLERANCE
        and checks["silent_below_rheobase"]
        and checks["refractory_respected"]
    )
    return checks, passed


def _agreement_checks(res, reference) -> tuple[dict, bool]:
    """This backend against the first one (itself for the first), spike for spike."""
    same = lif_check.compare_steps(reference.steps, res.steps)
    checks = {
        "levels_firing": int((res.n_spikes >= 2).sum()),
        "min_isi_s": _min_isi(res.min_isi),
        "refractory_respected": bool(np.all(res.min_isi >= res.t_ref - 1e-12)),
        f"same_spikes_as_{reference.backend}": same["identical"],
        "neurons_differing": same["neurons_differing"],
    }
    passed = checks["levels_firing"] >= 5 and same["identical"] and checks["refractory_respected"]
    return checks, passed


class Plan(NamedTuple):
    """What the check simulates (`plan`)."""

    model: NeuronModel
    currents: np.ndarray
    dt: object  # Brian2 quantities
    duration: object
    theory: lif_check.LinearLIF | None  # the closed form, where there is one
    reason: str  # why there is none


def plan(cfg: dict, path) -> Plan:
    """The model file of the configuration's ``neuron_check`` section, loaded, the currents to
    test it with and its closed form; what the check refuses before simulating, also refused
    as the workflow starts (`bioclf.checked.neuron_check`): a file that does not load, one for
    which no input currents can be chosen (its input does not drive the membrane) and a
    duration too short for the f-I check (`ConfigError` of `path`)."""
    nc = cfg["neuron_check"]
    model = load_neuron(nc["model"])
    dt = cfgmod.quantity(cfg, "neuron_check", "dt") if "dt" in nc else 0.01 * ms
    duration = cfgmod.quantity(cfg, "neuron_check", "duration") if "duration" in nc else 2 * second
    currents = lif_check.current_levels(model, n_above=nc.get("levels", 12))
    theory, reason = lif_check.analyse(model)
    if theory is not None:
        # The rate is measured from interspike intervals: a duration that holds fewer than two
        # spikes at the lowest current would read as a rate of 0, a failed neuron.
        slowest = 1.0 / theory.rate(currents[currents > theory.rheobase]).min()
        if float(duration) < 3 * slowest:
            raise ConfigError(
                path,
                "neuron_check.duration",
                f"{float(duration):g} s is too short for the f-I check of {model.path}: at "
                f"the lowest current ({currents[currents > theory.rheobase].min() * 1e9:.4g} "
                f"nA, 1.05x rheobase) the neuron fires every {slowest:.3g} s; use at least "
                f"{np.ceil(30 * slowest) / 10:g}*second",
            )
    return Plan(model, currents, dt, duration, theory, reason)


def main(argv=None) -> int:
    p = tasks.parser(
        f"{__doc__.splitlines()[0]} The file, the backends and the currents: the configuration's "
        "neuron_check section (model, backends, dt, duration, levels).",
        out_help="output directory for lif_check.json and its figures (created if absent)",
    )
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    model, currents, dt, duration, theory, reason = plan(cfg, args.config)
    build = cfg.get("build", "build")
    if set(cfgmod.neuron_check_backends(cfg)) - {"runtime"}:  # (they compile)
        build = cfgmod.build_folder(cfg, args.config)
    kind = "analytic" if theory else "agreement"
    if theory is None:
        print(
            f"{model.path}: no closed-form f-I curve ({reason}); checking that the simulators "
            "agree spike for spike instead"
        )
    names = cfgmod.neuron_check_backends(cfg)
    if set(names) == {"cuda"} and not backends.gpu_available():
        # (it would write a check that passed, having simulated nothing)
        raise ConfigError(
            args.config,
            "neuron_check.backends",
            "cuda only, and no GPU here: nothing would be checked; add runtime or cpp",
        )
    results, ok, reference = {}, True, None
    for name in names:
        backend = backends.Backend(name, build_dir=tasks.Path(build) / "neuron")
        if name == "cuda" and not backends.gpu_available():
            print("cuda: no GPU here, skipped (the CUDA build is tested by the test suite)")
            continue
        res = lif_check.simulate_rates(model, currents, duration=duration, dt=dt, backend=backend)
        reference = reference or res
        if theory is not None:
            checks, passed = _analytic_checks(res)
        else:
            checks, passed = _agreement_checks(res, reference)
        ok &= passed
        results[name] = {
            **checks,
            "passed": passed,
            "current_nA": (res.current * 1e9).tolist(),
            "analytic_hz": res.analytic.tolist() if theory else None,
            "simulated_hz": res.simulated.tolist(),
        }
        print(f"{name}: {'PASS' if passed else 'FAIL'} {checks}")
        if res is reference:
            title = f"{model.name}: f-I curve" + ("" if theory else " (no closed form)")
            plots.rate_check(res, args.out / "rates.png", title=title)
    torch = None
    if theory is None and reference is not None:
        try:
            steps = lif_check.torch_steps(model, currents, duration=duration, dt=dt)
        except UnsupportedConstructError as exc:
            torch = {"compared": False, "against": reference.backend, "reason": str(exc)}
        else:
            same = lif_check.compare_steps(reference.steps, steps)
            torch = {"compared": True, "against": reference.backend, **same}
            ok &= same["identical"]
        print(f"pytorch: {torch}")
    trace = lif_check.membrane_trace(model)
    plots.membrane_trace(
        trace,
        args.out / "membrane.png",
        title=f"{model.name}: integration, leak, threshold, spike, reset, refractory",
    )
    write_json(
        args.out / "lif_check.json",
        {
            "model": str(model.path),
            "dt_s": float(dt),
            "duration_s": float(duration),
            "check": kind,
            "no_closed_form": reason or None,
            "theory": None
            if theory is None
            else {
                "membrane": theory.membrane,
                "input": theory.input,
                "tau_s": theory.tau,
                "v_th": theory.v_th,
                "v_reset": theory.v_reset,
                "t_ref_s": theory.t_ref,
                "rheobase_A": theory.rheobase,
            },
            "backends": results,
            "pytorch": torch,
            "passed": ok,
            "provenance": tasks.provenance(),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
