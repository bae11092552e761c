# bioclf: STDP (Brian2) versus surrogate gradients (PyTorch), from the same equation files.
#
#   snakemake --cores 8                                  # default comparison, N=100
#   snakemake --cores 2 --configfile config/smoke.yaml   # a few minutes
#   snakemake --profile profiles/slurm                   # on a SLURM cluster
#   snakemake --report results/report.html               # after a run
#
# Rules are grouped in workflow/rules/*.smk; every model value lives in equations/.

# config/config.yaml unless --configfile names others: each configuration file is complete (a
# --configfile replaces this one rather than extending it; workflow/rules/common.smk).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/neuron.smk"
include: "workflow/rules/stdp.smk"
include: "workflow/rules/surrogate.smk"
include: "workflow/rules/ann.smk"
include: "workflow/rules/sweeps.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"

# Seconds-long jobs run where Snakemake runs, not through a cluster queue ('data' may download):
# results/benchmarks/ 1-6 s each (the report 4-10 s); the STDP votes (given the responses) 3.4 s,
# and the merge of the test responses where stdp.shards > 1 (stdp_respond_merge, a rule only
# then; 10,000 x N counts of 2 bytes). The merge of a label assignment's shards
# (stdp_assign_merge) stays a cluster job: at N=6400 it holds ~5 GB (workflow/rules/stdp.smk).
localrules: all, data, stdp_raster, surrogate_confusion, report, stdp_evaluate, sweep_stdp_evaluate
if STDP_SHARDS > 1:

    localrules: stdp_respond_merge


rule all:
    input:
        "results/report.md",
        "results/metrics.csv",
    default_target: True
