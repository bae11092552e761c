# Parameter sweeps (config key 'sweeps', bioclf/sweeps.py): every value of a swept parameter is a
# derived equation file under results/sweeps/<file>/<parameter>/<value>/<method>/derived/<digest>/
# (named after its content: written when the Snakefile is parsed, never rewritten, so a dry run
# with other values changes nothing a run under way reads), run by the same CLIs as the main
# runs. Each point is an ordinary job, so a cluster runs the points in parallel. The swept file
# and the files it extends are inputs: editing them re-runs the sweep points, and only those;
# each job's settings file holds the configuration values its results depend on.

include: "sweeps_common.smk"


rule sweeps:
    """Every sweep point (config 'sweeps'); the report plots them."""
    input:
        sweep_targets(),


rule sweep_surrogate_train:
    input:
        data_ready=DATA_READY,
        settings=sweep_sur_settings("sweep_surrogate_train"),
        neuron=lambda w: str(sweep_point(w, "surrogate").models["neuron"]),
        files=lambda w: sweep_model_files(w, "surrogate"),
    output:
        model="results/sweeps/{sfile}/{sparam}/{svalue}/surrogate/{net}/seed{seed}/model.pt",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_surrogate_train_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_surrogate_train_{net}_seed{seed}.tsv"
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(6000),
        gpu=sur_gpu,
    params:
        flags=sweep_sur_flags,
        out=lambda w, output: str(Path(output.model).parent),
    shell:
        "python -m bioclf.surrogate.train {params.flags}{SUR_RUNNING} --neuron {input.neuron} "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule sweep_surrogate_evaluate:
    input:
        model="results/sweeps/{sfile}/{sparam}/{svalue}/surrogate/{net}/seed{seed}/model.pt",
    output:
        metrics="results/sweeps/{sfile}/{sparam}/{svalue}/surrogate/{net}/seed{seed}/metrics.json",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_surrogate_evaluate_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_surrogate_evaluate_{net}_seed{seed}.tsv"
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(4000),
        gpu=sur_gpu,
    params:
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "python -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"


rule sweep_stdp_train:
    input:
        data_ready=DATA_READY,
        settings=sweep_stdp_settings("sweep_stdp_train", "train"),
        models=lambda w: sweep_model_files(w, "stdp"),
    output:
        state="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/state.npz",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_train_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_train_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        cfg=sweep_stdp_cfg,
        out=lambda w, output: str(Path(output.state).parent),
        backend=STDP_BACKEND,
    shell:
        "python -m bioclf.stdp.train --config {params.cfg} --n-exc {wildcards.n} "
        "--seed {wildcards.seed} --backend {params.backend} --out {params.out} > {log} 2>&1"


rule sweep_stdp_assign:
    input:
        settings=sweep_stdp_settings("sweep_stdp_assign", "assign"),
        models=lambda w: sweep_model_files(w, "stdp"),
        state="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/state.npz",
    output:
        assignment="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/assign/assignment.npy",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_assign_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_assign_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        cfg=sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "python -m bioclf.stdp.assign --config {params.cfg} --trained {params.out} "
        "--out {params.out}/assign > {log} 2>&1"


rule sweep_stdp_respond:
    input:
        settings=sweep_stdp_settings("sweep_stdp_respond", "respond"),
        models=lambda w: sweep_model_files(w, "stdp"),
        state="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/state.npz",
    output:
        responses="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/test/responses.npz",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_respond_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_respond_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=1 if STDP_BACKEND == "cuda" else 0,
    params:
        cfg=sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "python -m bioclf.stdp.respond --config {params.cfg} --trained {params.out} "
        "--out {params.out}/test > {log} 2>&1"


rule sweep_stdp_evaluate:
    input:
        settings=sweep_stdp_settings("sweep_stdp_evaluate", "evaluate"),
        models=lambda w: sweep_model_files(w, "stdp"),
        state="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/state.npz",
        assignment="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/assign/assignment.npy",
        responses="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/test/responses.npz",
    output:
        metrics="results/sweeps/{sfile}/{sparam}/{svalue}/stdp/n{n}/seed{seed}/test/metrics.json",
    log:
        "results/logs/sweeps/{sfile}_{sparam}_{svalue}_stdp_evaluate_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sfile}_{sparam}_{svalue}_stdp_evaluate_n{n}_seed{seed}.tsv"
    resources:  # (one thread, no GPU: given the responses, it checks their run and votes)
        mem_mb=retry_scaled(2000),
    params:
        cfg=sweep_stdp_cfg,
        out=lambda w, input: str(Path(input.state).parent),
    shell:
        "python -m bioclf.stdp.evaluate --config {params.cfg} --trained {params.out} "
        "--assignment {input.assignment} --responses {input.responses} "
        "--out {params.out}/test > {log} 2>&1"
