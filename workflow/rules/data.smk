rule data:
    """Verify the data set (checksums, counts) and draw a few samples."""
    input:
        settings=settings("data", None, lambda w: {"data": _bioclf_config.data_values(config)}),
    output:
        summary="results/data/summary.json",
        samples=report("results/data/samples.png", category="Data", caption="../report/data.rst"),
    log:
        logfile("data"),
    benchmark:
        benchfile("data")
    resources:
        mem_mb=retry_scaled(2000),
    shell:
        "python -m bioclf.data.check --config {CFG} --out results/data > {log} 2>&1"
