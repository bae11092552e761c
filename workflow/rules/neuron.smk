rule neuron_check:
    """The LIF file against the analytic firing rate, on each configured backend."""
    input:
        model=config["neuron_check"]["model"],
    output:
        metrics="results/neuron/lif_check.json",
        trace=report("results/neuron/membrane.png", category="Neuron",
                     caption="../report/membrane.rst"),
        rates=report("results/neuron/rates.png", category="Neuron",
                     caption="../report/rates.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/neuron_check.log",
    benchmark:
        "results/benchmarks/neuron_check.tsv"
    threads: 1
    resources:
        mem_mb=retry_scaled(2000),
    params:
        py=PY,
        cfg=CFG,
    shell:
        "{params.py} -m bioclf.neuron_check --config {params.cfg} --out results/neuron > {log} 2>&1"
