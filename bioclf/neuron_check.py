"""Verify a LIF model file against theory and draw its membrane potential.

    python -m bioclf.neuron_check --config config/config.yaml --out results/neuron

For >= 10 constant currents above rheobase the simulated rate must match the analytic LIF rate
within 1 % (at the configured fine dt), be zero below rheobase, and no interspike interval may
be shorter than the refractory period -- on every configured backend. Exits with status 1 when
a check fails, so the pipeline stops on a broken neuron.
"""

from __future__ import annotations

import numpy as np
from brian2 import ms, second

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.brian import backends, lif_check
from bioclf.equations import load_neuron
from bioclf.io import write_json


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    nc = cfg["neuron_check"]
    model = load_neuron(nc["model"])
    dt = cfgmod.quantity(cfg, "neuron_check", "dt") if "dt" in nc else 0.01 * ms
    duration = cfgmod.quantity(cfg, "neuron_check", "duration") if "duration" in nc else 2 * second
    currents = lif_check.current_levels(model, n_above=nc.get("levels", 12))
    build = cfg.get("build", "build")
    results, ok = {}, True
    for name in nc.get("backends", ["runtime"]):
        backend = backends.Backend(name, build_dir=tasks.Path(build) / "neuron")
        if name == "cuda" and not backends.gpu_available():
            print("cuda: no GPU here, skipped (the CUDA build is tested by the test suite)")
            continue
        res = lif_check.simulate_rates(model, currents, duration=duration, dt=dt, backend=backend)
        above = res.analytic > 0
        rel = np.abs(res.simulated[above] - res.analytic[above]) / res.analytic[above]
        checks = {
            "levels_above_rheobase": int(above.sum()),
            "max_relative_rate_error": float(rel.max()),
            "silent_below_rheobase": bool(np.all(res.n_spikes[~above] == 0)),
            "min_isi_s": float(res.min_isi[above].min()),
            "refractory_respected": bool(np.all(res.min_isi[above] >= res.t_ref - 1e-12)),
        }
        passed = (
            checks["levels_above_rheobase"] >= 10
            and checks["max_relative_rate_error"] < 0.01
            and checks["silent_below_rheobase"]
            and checks["refractory_respected"]
        )
        ok &= passed
        results[name] = {
            **checks,
            "passed": passed,
            "current_nA": (res.current * 1e9).tolist(),
            "analytic_hz": res.analytic.tolist(),
            "simulated_hz": res.simulated.tolist(),
        }
        print(f"{name}: {'PASS' if passed else 'FAIL'} {checks}")
        if name == nc.get("backends", ["runtime"])[0]:
            plots.rate_check(res, args.out / "rates.png", title=f"{model.name}: f-I curve")
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
            "backends": results,
            "passed": ok,
            "provenance": tasks.provenance(),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
