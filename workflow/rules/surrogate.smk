# Surrogate-gradient reference: train (resumable per epoch) -> test metrics -> the same network
# run in Brian2 from the same neuron file. The neuron file is an input of these rules only.


rule surrogate_train:
    input:
        neuron=SUR["neuron"],
        neuron_files=SUR_NEURON_FILES,
    output:
        model="results/surrogate/{net}/seed{seed}/model.pt",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/surrogate_train_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/surrogate_train_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=retry_scaled(6000),
    params:
        py=PY,
        flags=sur_flags,
        out="results/surrogate/{net}/seed{seed}",
    shell:
        "{params.py} -m bioclf.surrogate.train {params.flags} --neuron {input.neuron} "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule surrogate_evaluate:
    """Test-set accuracy, confusion, spikes, synaptic operations and energy of the network."""
    input:
        model="results/surrogate/{net}/seed{seed}/model.pt",
    output:
        metrics="results/surrogate/{net}/seed{seed}/metrics.json",
        confusion="results/surrogate/{net}/seed{seed}/confusion.npy",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/surrogate_evaluate_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/surrogate_evaluate_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=retry_scaled(4000),
    params:
        py=PY,
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "{params.py} -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"


rule surrogate_confusion:
    """Figure of the surrogate network's test confusion matrix."""
    input:
        confusion="results/surrogate/{net}/seed{seed}/confusion.npy",
    output:
        figure=report("results/surrogate/{net}/seed{seed}/confusion.png", category="Surrogate",
                      subcategory="{net}", caption="../report/confusion.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/surrogate_confusion_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/surrogate_confusion_{net}_seed{seed}.tsv"
    resources:
        mem_mb=retry_scaled(1000),
    params:
        py=PY,
    shell:
        "{params.py} -c \"import numpy as np; from bioclf import plots; "
        "plots.confusion(np.load('{input.confusion}'), '{output.figure}', "
        "title='surrogate {wildcards.net}')\" > {log} 2>&1"


rule surrogate_brian:
    """The trained network exported to Brian2 (same neuron file, dt and input spikes)."""
    input:
        neuron=SUR["neuron"],
        neuron_files=SUR_NEURON_FILES,
        model="results/surrogate/{net}/seed{seed}/model.pt",
    output:
        metrics="results/surrogate/{net}/seed{seed}/brian/brian2_export.json",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/surrogate_brian_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/surrogate_brian_{net}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=retry_scaled(4000),
        gpu=1 if EXPORT_BACKEND == "cuda" else 0,
    params:
        py=PY,
        out="results/surrogate/{net}/seed{seed}/brian",
        backend=EXPORT_BACKEND,
        n_test=EXPORT.get("n_test", 10000),
        data=config["data"]["root"],
        build=lambda w: f"{config.get('build', 'build')}/surrogate/{w.net}_seed{w.seed}",
    shell:
        "{params.py} -m bioclf.surrogate.export_brian --model {input.model} --out {params.out} "
        "--backend {params.backend} --n-test {params.n_test} --build-dir {params.build} "
        "--data {params.data} > {log} 2>&1"
