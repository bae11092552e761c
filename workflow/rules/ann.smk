# Conventional twins: for every surrogate network a non-spiking network of the same layer shapes
# (ReLU, analog images), trained by the same trainer with the same options (--spiking false),
# for the ANN-vs-SNN energy comparison of the report. Off with `ann: {enabled: false}`.


rule ann_train:
    output:
        model="results/ann/{net}/seed{seed}/model.pt",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/ann_train_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/ann_train_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=3000,
    params:
        py=PY,
        flags=sur_flags,
        out="results/ann/{net}/seed{seed}",
    shell:
        "{params.py} -m bioclf.surrogate.train {params.flags} --spiking false "
        "--seed {wildcards.seed} --test false --out {params.out} > {log} 2>&1"


rule ann_evaluate:
    """Test-set accuracy, confusion, MACs and energy of the twin."""
    input:
        model="results/ann/{net}/seed{seed}/model.pt",
    output:
        metrics="results/ann/{net}/seed{seed}/metrics.json",
        confusion="results/ann/{net}/seed{seed}/confusion.npy",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/ann_evaluate_{net}_seed{seed}.log",
    benchmark:
        "results/benchmarks/ann_evaluate_{net}_seed{seed}.tsv"
    threads: SUR.get("threads", 2)
    resources:
        mem_mb=2000,
    params:
        py=PY,
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "{params.py} -m bioclf.surrogate.evaluate --model {input.model} --out {params.out} "
        "> {log} 2>&1"
