# Configuration check and the lists of runs. The configuration is validated against
# config/schema.yaml before any job starts: a bad value stops the workflow with the key named.

import sys
from pathlib import Path

from bioclf import config as _bioclf_config
from bioclf.equations import model_files as _model_files
from bioclf.errors import BioclfError
# a run that sets its input code or window is named after them: fc100_latency_T25
from bioclf.report_coding import surrogate_run_name as sur_name

try:
    _bioclf_config.validate(config, workflow.overwrite_configfiles or "config/config.yaml")
except BioclfError as _exc:
    sys.exit(f"error: {_exc}")

PY = sys.executable  # the interpreter running Snakemake (the project's environment)
CFG = (workflow.overwrite_configfiles or ["config/config.yaml"])[-1]
SEEDS = config["seeds"]
STDP = config["stdp"]
SUR = config["surrogate"]
STDP_BACKEND = STDP["backend"]
STDP_SIZES = [s["n"] for s in STDP["sizes"]]
try:
    # A model file and the files it extends: editing any of them re-runs the rules using it.
    STDP_MODELS = sorted({str(f) for m in STDP["models"].values() for f in _model_files(m)})
    SUR_NEURON_FILES = [str(f) for f in _model_files(SUR["neuron"])]
except BioclfError as _exc:
    sys.exit(f"error: {_exc}")


SUR_NETS = [sur_name(r) for r in SUR["runs"]]
SUR_FC = [n for n in SUR_NETS if n.startswith("fc")]
EXPORT = SUR.get("export", {})
EXPORT_BACKEND = EXPORT.get("backend", "cpp")


def stdp_dir(w):
    return f"results/stdp/{w.backend}/n{w.n}/seed{w.seed}"


def sur_run(net):
    for r in SUR["runs"]:
        if sur_name(r) == net:
            return r
    raise ValueError(f"no surrogate run {net}")


def stdp_threads(w=None):
    return int(STDP.get("threads", 1))


def stdp_gpu(w):
    return 1 if w.backend == "cuda" else 0


def stdp_mem_mb(w):
    return 2000 + int(w.n) * 30


def sur_flags(w):
    run = sur_run(w.net)

    def setting(key, default):
        # a network's own value overrides the surrogate section's
        return run.get(key, SUR.get(key, default))

    flags = [f"--arch {run['arch']}"]
    if "hidden" in run:
        flags.append(f"--hidden {run['hidden']}")
    if "channels" in run:
        flags.append(f"--channels {run['channels'][0]} {run['channels'][1]}")
    if "stride1" in run:
        flags.append(f"--stride1 {run['stride1']}")
    if "conv_hidden" in run:
        flags.append(f"--conv-hidden {run['conv_hidden']}")
    flags += [
        f"--epochs {SUR['epochs']}",
        f"--T {run.get('time_steps', SUR['time_steps'])}",
        f"--dt {float(_bioclf_config.quantity(config, 'surrogate', 'dt'))}",
        f"--max-rate {float(_bioclf_config.quantity(config, 'surrogate', 'max_rate'))}",
        f"--batch-size {setting('batch_size', 128)}",
        f"--lr {setting('lr', 0.001)}",
        f"--weight-decay {setting('weight_decay', 0.0)}",
        f"--threads {SUR.get('threads', 2)}",
        f"--data {config['data']['root']}",
    ]
    # only when asked, so that existing results stay current
    for key, flag in (
        ("augment_shift", "--augment-shift"),
        ("surrogate_gradient", "--surrogate"),
        ("slope", "--slope"),
        ("encoding", "--encoding"),
    ):
        if setting(key, None):
            flags.append(f"{flag} {setting(key, None)}")
    if "n_train" in SUR:
        flags.append(f"--train-subset {SUR['n_train']}")
    if "n_test" in SUR:
        flags.append(f"--test-subset {SUR['n_test']}")
    return " ".join(flags)


def stdp_targets():
    return expand(
        "results/stdp/{backend}/n{n}/seed{seed}/{f}",
        backend=STDP_BACKEND,
        n=STDP_SIZES,
        seed=SEEDS,
        f=["test/metrics.json", "test/confusion.png", "receptive_fields.png", "raster.png"],
    )


def surrogate_targets():
    out = expand("results/surrogate/{net}/seed{seed}/{f}", net=SUR_NETS, seed=SEEDS,
                 f=["metrics.json", "confusion.png"])
    out += expand("results/surrogate/{net}/seed{seed}/brian/brian2_export.json", net=SUR_FC,
                  seed=SEEDS)
    return out


wildcard_constraints:
    n=r"\d+",
    seed=r"\d+",
    backend="runtime|cpp|cuda",
    net=r"(fc\d+|conv)(_rate|_latency)?(_T\d+)?",
