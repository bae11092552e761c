# Surrogate-gradient reference: train (resumable from its checkpoints, within epochs too) -> test
# metrics -> the same network run in Brian2 from the same neuron file. The neuron file is an
# input of these rules only.


rule surrogate_train:
    input:
        data_ready=DATA_READY,
        # (the neuron file by its path too: another file, older than the results, is an input
        # Snakemake's mtimes do not see changed, where it has no record of the run)
        settings=settings("surrogate_train", SUR_JOB, lambda w: {
            "flags": sur_flags(w), "neuron": os.path.normpath(SUR["neuron"])
        }),
        neuron=SUR["neuron"],
        neuron_files=SUR_NEURON_FILES,
    output:
        model=f"{SUR_RUN}/model.pt",
    log:
        logfile("surrogate_train", SUR_JOB),
    benchmark:
        benchfile("surrogate_train", SUR_JOB)
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(6000),
        gpu=sur_gpu,
    params:
        flags=sur_flags,
        out=run_dir(SUR_RUN),
    shell:
        "python -m bioclf.surrogate.train {params.flags}{SUR_RUNNING} --neuron {input.neuron} "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule surrogate_evaluate:
    """Test-set accuracy, confusion, spikes, synaptic operations and energy of the network."""
    input:
        settings=settings("surrogate_evaluate", SUR_JOB, lambda w: {"flags": sur_flags(w)}),
        model=f"{SUR_RUN}/model.pt",
    output:
        metrics=f"{SUR_RUN}/metrics.json",
        confusion=f"{SUR_RUN}/confusion.npy",
    log:
        logfile("surrogate_evaluate", SUR_JOB),
    benchmark:
        benchfile("surrogate_evaluate", SUR_JOB)
    threads: SUR_THREADS
    resources:
        mem_mb=retry_scaled(4000),
        gpu=sur_gpu,
    params:
        out=lambda w, output: str(Path(output.metrics).parent),
    # (on the device option the model was trained with: the configuration's 'device')
    shell:
        "python -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"


rule surrogate_confusion:
    """Figure of the surrogate network's test confusion matrix."""
    input:
        confusion=f"{SUR_RUN}/confusion.npy",
    output:
        figure=report(f"{SUR_RUN}/confusion.png", category="Surrogate",
                      subcategory="{net}", caption="../report/confusion.rst"),
    log:
        logfile("surrogate_confusion", SUR_JOB),
    benchmark:
        benchfile("surrogate_confusion", SUR_JOB)
    resources:
        mem_mb=retry_scaled(1000),
    shell:
        "python -m bioclf.confusion_figure --confusion {input.confusion} "
        "--title 'surrogate {wildcards.net}' --out {output.figure} > {log} 2>&1"


rule surrogate_brian:
    """The trained network exported to Brian2 (same neuron file, dt and input spikes)."""
    input:
        settings=settings(
            "surrogate_brian", SUR_JOB, lambda w: {"flags": sur_flags(w), "export": EXPORT}
        ),
        neuron=SUR["neuron"],
        neuron_files=SUR_NEURON_FILES,
        model=f"{SUR_RUN}/model.pt",
    output:
        metrics=f"{SUR_RUN}/brian/brian2_export.json",
    log:
        logfile("surrogate_brian", SUR_JOB),
    benchmark:
        benchfile("surrogate_brian", SUR_JOB)
    threads: SUR_THREADS  # (its PyTorch side runs on the training's threads, as evaluation does)
    resources:
        mem_mb=retry_scaled(4000),
        gpu=1 if EXPORT_BACKEND == "cuda" else 0,
    params:
        out=run_dir(f"{SUR_RUN}/brian"),
        backend=EXPORT_BACKEND,
        # (none set: the task's default, the whole test split; 10,000 was refused on a smaller one)
        n_test=f"--n-test {EXPORT['n_test']} " if "n_test" in EXPORT else "",
        data=_bioclf_config.shell_word(config["data"]["root"]),  # (one argument, as in sur_flags)
        build=lambda w: _bioclf_config.shell_word(  # (one argument: a folder with a space works)
            f"{config.get('build', 'build')}/surrogate/{w.net}_seed{w.seed}"
        ),
    shell:
        "python -m bioclf.surrogate.export_brian --model {input.model} --out {params.out} "
        "--backend {params.backend} {params.n_test}--build-dir {params.build} "
        "--data {params.data} > {log} 2>&1"
