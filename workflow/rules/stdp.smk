# Unsupervised STDP (Diehl & Cook 2015): train (chunked, resumable) -> assign labels and,
# in parallel, simulate the test set -> vote and score.
# The STDP model files are inputs of these rules only: editing one re-runs this branch.


rule stdp_train:
    input:
        data_ready=DATA_READY,
        models=STDP_MODELS,
        settings=stdp_settings("stdp_train", "train"),
    output:
        state=f"{STDP_RUN}/state.npz",
        weights=f"{STDP_RUN}/weights.npy",
        theta=f"{STDP_RUN}/theta.npy",  # (declared: a rerun removes it with the others)
        metrics=f"{STDP_RUN}/train_metrics.json",
        records=f"{STDP_RUN}/train_records.npz",
        fields=report(f"{STDP_RUN}/receptive_fields.png",
                      category="STDP", subcategory="N={n}", caption="../report/fields.rst"),
    log:
        logfile("stdp_train", STDP_JOB),
    benchmark:
        benchfile("stdp_train", STDP_JOB)
    threads: stdp_threads()
    resources:
        mem_mb=retry_scaled(stdp_mem_mb),
        gpu=stdp_gpu,
    params:
        out=run_dir(STDP_RUN),
    shell:
        "python -m bioclf.stdp.train --config {CFG} --n-exc {wildcards.n} "
        "--seed {wildcards.seed} --backend {wildcards.backend} --out {params.out} > {log} 2>&1"


# Label assignment and test responses: one job each (stdp.shards: 1), or stdp.shards jobs
# each on a range of the samples, then a merge that writes the same files.
if STDP_SHARDS == 1:

    rule stdp_assign:
        input:
            settings=stdp_settings("stdp_assign", "assign"),
            models=STDP_MODELS,
            state=rules.stdp_train.output.state,
        output:
            assignment=f"{STDP_RUN}/assign/assignment.npy",
            metrics=f"{STDP_RUN}/assign/assign_metrics.json",
        log:
            logfile("stdp_assign", STDP_JOB),
        benchmark:
            benchfile("stdp_assign", STDP_JOB)
        threads: stdp_threads()
        resources:
            mem_mb=retry_scaled(stdp_mem_mb),
            gpu=stdp_gpu,
        params:
            out=run_dir(STDP_RUN),
        shell:
            "python -m bioclf.stdp.assign --config {CFG} --trained {params.out} "
            "--out {params.out}/assign > {log} 2>&1"


    rule stdp_respond:
        """Test-set responses; needs no labels, so it runs alongside stdp_assign."""
        input:
            settings=stdp_settings("stdp_respond", "respond"),
            models=STDP_MODELS,
            state=rules.stdp_train.output.state,
        output:
            responses=f"{STDP_RUN}/test/responses.npz",
        log:
            logfile("stdp_respond", STDP_JOB),
        benchmark:
            benchfile("stdp_respond", STDP_JOB)
        threads: stdp_threads()
        resources:
            mem_mb=retry_scaled(stdp_mem_mb),
            gpu=stdp_gpu,
        params:
            out=run_dir(STDP_RUN),
        shell:
            "python -m bioclf.stdp.respond --config {CFG} --trained {params.out} "
            "--out {params.out}/test > {log} 2>&1"

else:

    rule stdp_assign_shard:
        """Shard {k} of label assignment (stdp.shards > 1)."""
        input:
            settings=stdp_settings("stdp_assign_shard", "assign", STDP_SHARD_JOB),
            models=STDP_MODELS,
            state=rules.stdp_train.output.state,
        output:
            records=f"{STDP_ASSIGN_SHARD}/assign_records.npz",
        log:
            logfile("stdp_assign_shard", STDP_SHARD_JOB),
        benchmark:
            benchfile("stdp_assign_shard", STDP_SHARD_JOB)
        threads: stdp_threads()
        resources:
            mem_mb=retry_scaled(stdp_mem_mb),
            gpu=stdp_gpu,
        params:
            out=run_dir(STDP_RUN),
            shard=run_dir(STDP_ASSIGN_SHARD),
            shards=STDP_SHARDS,
        shell:
            "python -m bioclf.stdp.assign --config {CFG} --trained {params.out} "
            "--shard {wildcards.k} --shards {params.shards} --out {params.shard} > {log} 2>&1"


    # (named apart from the unsharded rules: a profile that sends stdp_assign/stdp_respond
    # to a GPU partition must not queue these one-thread merges there)
    rule stdp_assign_merge:
        """Label assignment from the responses of all shards."""
        input:
            settings=stdp_settings("stdp_assign", "assign"),
            parts=expand(f"{STDP_ASSIGN_SHARD}/assign_records.npz", k=range(STDP_SHARDS),
                         allow_missing=True),
        output:
            assignment=f"{STDP_RUN}/assign/assignment.npy",
            metrics=f"{STDP_RUN}/assign/assign_metrics.json",
        log:
            logfile("stdp_assign_merge", STDP_JOB),
        benchmark:
            benchfile("stdp_assign_merge", STDP_JOB)
        resources:  # (one thread, no GPU: it concatenates the counts and assigns the labels)
            mem_mb=retry_scaled(lambda w: 2000 + stdp_counts_mb(w.n, STDP["n_assign"])),
        params:
            out=run_dir(STDP_RUN),
            parts=lambda w, input: " ".join(str(Path(f).parent) for f in input.parts),
        shell:
            "python -m bioclf.stdp.merge --what assign --out {params.out}/assign "
            "{params.parts} > {log} 2>&1"


    rule stdp_respond_shard:
        """Shard {k} of the test responses (stdp.shards > 1)."""
        input:
            settings=stdp_settings("stdp_respond_shard", "respond", STDP_SHARD_JOB),
            models=STDP_MODELS,
            state=rules.stdp_train.output.state,
        output:
            responses=f"{STDP_TEST_SHARD}/responses.npz",
        log:
            logfile("stdp_respond_shard", STDP_SHARD_JOB),
        benchmark:
            benchfile("stdp_respond_shard", STDP_SHARD_JOB)
        threads: stdp_threads()
        resources:
            mem_mb=retry_scaled(stdp_mem_mb),
            gpu=stdp_gpu,
        params:
            out=run_dir(STDP_RUN),
            shard=run_dir(STDP_TEST_SHARD),
            shards=STDP_SHARDS,
        shell:
            "python -m bioclf.stdp.respond --config {CFG} --trained {params.out} "
            "--shard {wildcards.k} --shards {params.shards} --out {params.shard} > {log} 2>&1"


    rule stdp_respond_merge:
        """The test responses of all shards in one file."""
        input:
            settings=stdp_settings("stdp_respond", "respond"),
            parts=expand(f"{STDP_TEST_SHARD}/responses.npz", k=range(STDP_SHARDS),
                         allow_missing=True),
        output:
            responses=f"{STDP_RUN}/test/responses.npz",
        log:
            logfile("stdp_respond_merge", STDP_JOB),
        benchmark:
            benchfile("stdp_respond_merge", STDP_JOB)
        params:
            out=run_dir(STDP_RUN),
            parts=lambda w, input: " ".join(str(Path(f).parent) for f in input.parts),
        shell:
            "python -m bioclf.stdp.merge --what respond --out {params.out}/test "
            "{params.parts} > {log} 2>&1"


rule stdp_evaluate:
    input:
        settings=stdp_settings("stdp_evaluate", "evaluate"),
        models=STDP_MODELS,
        state=rules.stdp_train.output.state,
        assignment=f"{STDP_RUN}/assign/assignment.npy",
        responses=f"{STDP_RUN}/test/responses.npz",
    output:
        metrics=f"{STDP_RUN}/test/metrics.json",
        confusion=report(f"{STDP_RUN}/test/confusion.png",
                         category="STDP", subcategory="N={n}",
                         caption="../report/confusion.rst"),
    log:
        logfile("stdp_evaluate", STDP_JOB),
    benchmark:
        benchfile("stdp_evaluate", STDP_JOB)
    resources:  # (one thread, no GPU: given the responses, it checks their run and votes)
        mem_mb=retry_scaled(2000),
    params:
        out=run_dir(STDP_RUN),
    shell:
        "python -m bioclf.stdp.evaluate --config {CFG} --trained {params.out} "
        "--assignment {input.assignment} --responses {input.responses} "
        "--out {params.out}/test > {log} 2>&1"
