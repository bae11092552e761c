# Unsupervised STDP (Diehl & Cook 2015): train (chunked, resumable) -> assign labels and,
# in parallel, simulate the test set -> vote and score.
# The STDP model files are inputs of these rules only: editing one re-runs this branch.


rule stdp_train:
    input:
        models=STDP_MODELS,
    output:
        state="results/stdp/{backend}/n{n}/seed{seed}/state.npz",
        weights="results/stdp/{backend}/n{n}/seed{seed}/weights.npy",
        metrics="results/stdp/{backend}/n{n}/seed{seed}/train_metrics.json",
        records="results/stdp/{backend}/n{n}/seed{seed}/train_records.npz",
        fields=report("results/stdp/{backend}/n{n}/seed{seed}/receptive_fields.png",
                      category="STDP", subcategory="N={n}", caption="../report/fields.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/stdp_train_{backend}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/stdp_train_{backend}_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=stdp_gpu,
    params:
        py=PY,
        cfg=CFG,
        out=stdp_dir,
    shell:
        "{params.py} -m bioclf.stdp.train --config {params.cfg} --n-exc {wildcards.n} "
        "--seed {wildcards.seed} --backend {wildcards.backend} --out {params.out} > {log} 2>&1"


rule stdp_assign:
    input:
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
    output:
        assignment="results/stdp/{backend}/n{n}/seed{seed}/assign/assignment.npy",
        metrics="results/stdp/{backend}/n{n}/seed{seed}/assign/assign_metrics.json",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/stdp_assign_{backend}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/stdp_assign_{backend}_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=stdp_gpu,
    params:
        py=PY,
        cfg=CFG,
        out=stdp_dir,
    shell:
        "{params.py} -m bioclf.stdp.assign --config {params.cfg} --trained {params.out} "
        "--out {params.out}/assign > {log} 2>&1"


rule stdp_respond:
    """Test-set responses; needs no labels, so it runs alongside stdp_assign."""
    input:
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
    output:
        responses="results/stdp/{backend}/n{n}/seed{seed}/test/responses.npz",
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/stdp_respond_{backend}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/stdp_respond_{backend}_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=stdp_gpu,
    params:
        py=PY,
        cfg=CFG,
        out=stdp_dir,
    shell:
        "{params.py} -m bioclf.stdp.respond --config {params.cfg} --trained {params.out} "
        "--out {params.out}/test > {log} 2>&1"


rule stdp_evaluate:
    input:
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
        assignment=rules.stdp_assign.output.assignment,
        responses=rules.stdp_respond.output.responses,
    output:
        metrics="results/stdp/{backend}/n{n}/seed{seed}/test/metrics.json",
        confusion=report("results/stdp/{backend}/n{n}/seed{seed}/test/confusion.png",
                         category="STDP", subcategory="N={n}",
                         caption="../report/confusion.rst"),
    conda:
        "../envs/bioclf.yaml"
    log:
        "results/logs/stdp_evaluate_{backend}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/stdp_evaluate_{backend}_n{n}_seed{seed}.tsv"
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=stdp_gpu,
    params:
        py=PY,
        cfg=CFG,
        out=stdp_dir,
    shell:
        "{params.py} -m bioclf.stdp.evaluate --config {params.cfg} --trained {params.out} "
        "--assignment {input.assignment} --responses {input.responses} "
        "--out {params.out}/test > {log} 2>&1"
