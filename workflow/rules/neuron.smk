NEURON_CHECK_BACKENDS = _bioclf_config.neuron_check_backends(config)


rule neuron_check:
    """The neuron file against its analytic f-I curve (or, without one, the backends and PyTorch
    against each other, spike for spike), on each configured backend."""
    input:
        model=CHECK_NEURON_FILES,  # the file and those it extends
        settings=settings("neuron_check", None, lambda w: _bioclf_config.neuron_check_values(config)),
    output:
        metrics="results/neuron/lif_check.json",
        trace=report("results/neuron/membrane.png", category="Neuron",
                     caption="../report/membrane.rst"),
        rates=report("results/neuron/rates.png", category="Neuron",
                     caption="../report/rates.rst"),
    log:
        logfile("neuron_check"),
    benchmark:
        benchfile("neuron_check")
    threads: 1
    resources:
        mem_mb=retry_scaled(2000),
        # brian2cuda where the backends include cuda (without a GPU the check skips cuda, and
        # says so in its log; cuda alone is refused)
        gpu=1 if "cuda" in NEURON_CHECK_BACKENDS else 0,
    shell:
        "python -m bioclf.neuron_check --config {CFG} --out results/neuron > {log} 2>&1"
