# Conventional twins: for every surrogate network a non-spiking network of the same layer shapes
# (ReLU, analog images), trained by the same trainer with the same options (--spiking false),
# for the ANN-vs-SNN energy comparison of the report. Off with `ann: {enabled: false}`.


rule ann_train:
    input:
        data_ready=DATA_READY,
        settings=settings("ann_train", SUR_JOB, lambda w: {"flags": ann_flags(w)}),
    output:
        model=f"{ANN_RUN}/model.pt",
    log:
        logfile("ann_train", SUR_JOB),
    benchmark:
        benchfile("ann_train", SUR_JOB)
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(3000),
        gpu=sur_gpu,
    params:
        flags=ann_flags,
        out=run_dir(ANN_RUN),
    shell:
        "python -m bioclf.surrogate.train {params.flags}{SUR_RUNNING} --spiking false "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule ann_evaluate:
    """Test-set accuracy, confusion, MACs and energy of the twin."""
    input:
        settings=settings("ann_evaluate", SUR_JOB, lambda w: {"flags": ann_flags(w)}),
        model=f"{ANN_RUN}/model.pt",
    output:
        metrics=f"{ANN_RUN}/metrics.json",
        confusion=f"{ANN_RUN}/confusion.npy",
    log:
        logfile("ann_evaluate", SUR_JOB),
    benchmark:
        benchfile("ann_evaluate", SUR_JOB)
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(2000),
        gpu=sur_gpu,
    params:
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "python -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"
