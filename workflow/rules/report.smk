rule stdp_raster:
    """Input and excitatory rasters of the trained network for one test sample."""
    input:
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
    output:
        figure=report("results/stdp/{backend}/n{n}/seed{seed}/raster.png", category="STDP",
                      subcategory="N={n}", caption="../report/raster.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/stdp_raster_{backend}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/stdp_raster_{backend}_n{n}_seed{seed}.tsv"
    resources:
        mem_mb=retry_scaled(2000),
    params:
        py=PY,
        cfg=CFG,
        out=stdp_dir,
    shell:
        "{params.py} -m bioclf.stdp.raster --config {params.cfg} --trained {params.out} "
        "--out {output.figure} > {log} 2>&1"


rule report:
    """Side-by-side comparison: results/report.md, results/metrics.csv, results/figures/."""
    input:
        "results/data/summary.json",
        "results/neuron/lif_check.json",
        stdp_targets(),
        surrogate_targets(),
    output:
        report="results/report.md",
        metrics=report("results/metrics.csv", category="Comparison",
                       caption="../report/metrics.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    resources:
        mem_mb=retry_scaled(2000),
    params:
        py=PY,
        cfg=CFG,
    shell:
        "{params.py} -m bioclf.report --config {params.cfg} --out results > {log} 2>&1"
