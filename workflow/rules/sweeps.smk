# Parameter sweeps (config key 'sweeps', bioclf/sweeps.py): every value of a swept parameter is a
# derived equation file under results/sweeps/<file>/<parameter>/<value>/<method>/ (written when
# the Snakefile is parsed, only if its text changes), run by the same CLIs as the main runs.
# Each point is an ordinary job, so a cluster runs the points in parallel. The swept file and the
# files it extends are inputs: editing them re-runs the sweep points, and only those.

from bioclf import sweeps as _sweeps

try:
    SWEEP_POINTS = _sweeps.plan(config, CFG)
except BioclfError as _exc:
    sys.exit(f"error: {_exc}")
SWEEP_STDP = _sweeps.budget(config)
SWEEP_SUR = _sweeps.surrogate_budget(config)
SWEEP_DIR = "results/sweeps/{sfile}/{sparam}/{svalue}"


def sweep_point(w, method):
    for p in SWEEP_POINTS:
        if (p.file.stem, p.parameter, _sweeps.slug(p.value), p.method) == (
            w.sfile, w.sparam, w.svalue, method
        ):
            return p
    raise ValueError(f"no {method} sweep point {w.sfile}/{w.sparam}/{w.svalue}")


def sweep_model_files(w, method):
    """The derived files of a point and every file they extend."""
    p = sweep_point(w, method)
    files = {str(f) for m in p.models.values() for f in _model_files(m)}
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
    out = []
    for p in SWEEP_POINTS:
        if p.method == "surrogate":
            out += expand(f"{p.directory}/{{net}}/seed{{seed}}/metrics.json", net=SUR_NETS,
                          seed=SEEDS)
        else:
            out += expand(f"{p.directory}/n{SWEEP_STDP['n']}/seed{{seed}}/test/metrics.json",
                          seed=SEEDS)
    return out


wildcard_constraints:
    sfile=r"[^/]+",
    sparam=r"[^/]+",
    svalue=r"[^/]+",


rule sweeps:
    """Every sweep point (config 'sweeps'); the report plots them."""
    input:
        sweep_targets(),


rule sweep_surrogate_train:
    input:
        neuron=lambda w: str(sweep_point(w, "surrogate").models["neuron"]),
        files=lambda w: sweep_model_files(w, "surrogate"),
    output:
        model=SWEEP_DIR + "/surrogate/{net}/seed{seed}/model.pt",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_surrogate_train_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_surrogate_train_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=6000,
    params:
        py=PY,
        flags=sweep_sur_flags,
        out=lambda w, output: str(Path(output.model).parent),
    shell:
        "{params.py} -m bioclf.surrogate.train {params.flags} --neuron {input.neuron} "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule sweep_surrogate_evaluate:
    input:
        model=SWEEP_DIR + "/surrogate/{net}/seed{seed}/model.pt",
    output:
        metrics=SWEEP_DIR + "/surrogate/{net}/seed{seed}/metrics.json",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_surrogate_evaluate_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_surrogate_evaluate_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=4000,
    params:
        py=PY,
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "{params.py} -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"


def _sweep_stdp_cfg(w):
    return str(sweep_point(w, "stdp").config)


rule sweep_stdp_train:
    input:
        models=lambda w: sweep_model_files(w, "stdp"),
    output:
        state=SWEEP_DIR + "/stdp/n{n}/seed{seed}/state.npz",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_train_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_train_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=lambda w: 2000 + int(w.n) * 30,
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        py=PY,
        cfg=_sweep_stdp_cfg,
        out=lambda w, output: str(Path(output.state).parent),
        backend=STDP_BACKEND,
    shell:
        "{params.py} -m bioclf.stdp.train --config {params.cfg} --n-exc {wildcards.n} "
        "--seed {wildcards.seed} --backend {params.backend} --out {params.out} > {log} 2>&1"


rule sweep_stdp_assign:
    input:
        models=lambda w: sweep_model_files(w, "stdp"),
        state=SWEEP_DIR + "/stdp/n{n}/seed{seed}/state.npz",
    output:
        assignment=SWEEP_DIR + "/stdp/n{n}/seed{seed}/assign/assignment.npy",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_assign_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_assign_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=lambda w: 2000 + int(w.n) * 30,
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        py=PY,
        cfg=_sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "{params.py} -m bioclf.stdp.assign --config {params.cfg} --trained {params.out} "
        "--out {params.out}/assign > {log} 2>&1"


rule sweep_stdp_respond:
    input:
        models=lambda w: sweep_model_files(w, "stdp"),
        state=SWEEP_DIR + "/stdp/n{n}/seed{seed}/state.npz",
    output:
        responses=SWEEP_DIR + "/stdp/n{n}/seed{seed}/test/responses.npz",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_respond_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_respond_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=lambda w: 2000 + int(w.n) * 30,
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        py=PY,
        cfg=_sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "{params.py} -m bioclf.stdp.respond --config {params.cfg} --trained {params.out} "
        "--out {params.out}/test > {log} 2>&1"


rule sweep_stdp_evaluate:
    input:
        models=lambda w: sweep_model_files(w, "stdp"),
        state=SWEEP_DIR + "/stdp/n{n}/seed{seed}/state.npz",
        assignment=SWEEP_DIR + "/stdp/n{n}/seed{seed}/assign/assignment.npy",
        responses=SWEEP_DIR + "/stdp/n{n}/seed{seed}/test/responses.npz",
    output:
        metrics=SWEEP_DIR + "/stdp/n{n}/seed{seed}/test/metrics.json",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_evaluate_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_evaluate_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=lambda w: 2000 + int(w.n) * 30,
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        py=PY,
        cfg=_sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "{params.py} -m bioclf.stdp.evaluate --config {params.cfg} --trained {params.out} "
        "--assignment {input.assignment} --responses {input.responses} "
        "--out {params.out}/test > {log} 2>&1"
