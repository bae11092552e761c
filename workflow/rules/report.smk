rule stdp_raster:
    """Input and excitatory rasters of the trained network for one test sample."""
    input:
        settings=stdp_settings("stdp_raster", "frozen"),
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
    output:
        figure=report(f"{STDP_RUN}/raster.png", category="STDP",
                      subcategory="N={n}", caption="../report/raster.rst"),
    log:
        logfile("stdp_raster", STDP_JOB),
    benchmark:
        benchfile("stdp_raster", STDP_JOB)
    resources:  # (the whole network on the runtime backend: 1.83 GB at N=6400, 6 s)
        mem_mb=retry_scaled(lambda w: 2000 + stdp_pairs_mb(w.n)),
    params:
        out=run_dir(STDP_RUN),
    shell:
        "python -m bioclf.stdp.raster --config {CFG} --trained {params.out} "
        "--out {output.figure} > {log} 2>&1"


rule report:
    """Side-by-side comparison: results/report.md, results/metrics.csv, results/figures/."""
    input:
        runs=[
            "results/data/summary.json",
            "results/neuron/lif_check.json",
            *stdp_targets(),
            *surrogate_targets(),
            *ann_targets(),
            *sweep_targets(),
        ],
        settings=settings("report", None, report_settings),
    output:
        report="results/report.md",
        metrics=report("results/metrics.csv", category="Comparison",
                       caption="../report/metrics.rst"),
    log:
        logfile("report"),
    benchmark:
        benchfile("report")
    resources:
        mem_mb=retry_scaled(2000),
    shell:
        "python -m bioclf.report --config {CFG} --out results --inputs {input.runs} "
        "> {log} 2>&1"
