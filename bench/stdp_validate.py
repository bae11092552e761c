"""Score a variant of the STDP network on training images unused for labels (to choose parameters).

    python bench/stdp_validate.py NAME [--seed S] [--n-exc N] [--epochs E] [--config FILE]
        [--continue-from DIR] [--test [--record FILE]] [OVERRIDE ...]

OVERRIDE is ``FILE:PARAMETER=VALUE`` (an equation file's stem or its role in the
configuration's ``stdp.models``: ``input_exc:nu_post=0.08``, or ``dc_stdp_fast:nu_post=0.08``
with the default configuration) or ``cfg:KEY.SUB=VALUE`` (a configuration value:
``cfg:stdp.models.exc=equations/dc_exc_unclamped.yaml``). The variant starts from
``--config`` (default ``config/config.yaml``); the variant's configuration, and for each
edited equation file a file that extends it with the new values, go to
``bench/out/validate/NAME/``.

The network is trained for ``--epochs`` (default: those of ``--n-exc`` in ``stdp.sizes``, with
its schedule, else 1) on all 60,000 training images (from the network trained in
``--continue-from``, if given: `bioclf.stdp.train`), labels are assigned from training images
0-9,999 (as in the pipeline), and the score is the accuracy on training images
50,000-59,999 (the last 10,000 of the ``stdp.n_train`` trained on): seen without labels during
training, never used for labels, and not the test set, so that choosing among variants by it
leaves the test accuracy an honest figure. Having been trained on, they score above the test
set (the default network, seed 0: 86.55% against 85.51%): compare variants by it, not with test
accuracies. ``--test`` adds the test-set evaluation. One line of JSON per run is appended to
``bench/out/validate/results.jsonl``. Each run resumes where an earlier one stopped.

``--record FILE`` (with ``--test``) appends the run's record to FILE as well
(``results/runs.jsonl``, from which the README's rows over seeds take their figures:
`bioclf.run_records`): that line's fields plus ``test_accuracy`` and ``n_test`` from the test
metrics, the command as typed without ``--record FILE``, the commit of the code (taken
before training; ``+dirty`` where tracked files other than FILE and the outputs under
``results/`` and ``bench/out/`` had changes) and the
processor. A name FILE has already, or a ``BIOCLF_COMMIT`` (the commit outside a git checkout)
that is no git hash, is refused before training.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioclf import config as cfgmod  # noqa: E402
from bioclf import run_records, tasks  # noqa: E402
from bioclf.errors import ConfigError  # noqa: E402
from bioclf.stdp import labels as labelling  # noqa: E402
from bioclf.stdp import setup  # noqa: E402
from bioclf.stdp.frozen import run_frozen  # noqa: E402

OUT = ROOT / "bench" / "out" / "validate"
N_VAL = 10000  # the last training images
COMMAND_LINE = "(command line)"  # where an override comes from, in errors


def variant_config(name: str, overrides: list[str], base: Path) -> Path:
    """Write the variant's configuration (and edited equation files); return its path.
    Nothing is written before every override is checked."""
    d = OUT / name
    cfg = cfgmod.load(base)  # (refused in one line, naming the file: missing, not YAML, ...)
    cfg["build"] = str(d / "build")
    params: dict[str, dict[str, str]] = {}
    for item in overrides:
        target, _, assignment = item.partition(":")
        key, sep, value = assignment.partition("=")
        if not sep:
            raise ConfigError(COMMAND_LINE, item, "expected FILE:PARAMETER=VALUE or cfg:KEY=VALUE")
        if target == "cfg":
            node = cfg
            *path, last = key.split(".")
            for i, part in enumerate(path):
                if not isinstance(node.get(part), dict):
                    where = ".".join(path[: i + 1])
                    raise ConfigError(COMMAND_LINE, item, f"{base} has no section '{where}'")
                node = node[part]
            node[last] = yaml.safe_load(value)
        else:
            params.setdefault(target, {})[key] = value
    models = cfg["stdp"]["models"]
    edited: dict[Path, dict] = {}
    for role, path in models.items():
        stem = Path(path).stem
        edits = params.pop(stem, {}) | params.pop(role, {})
        if edits:
            # A file extending the original: the loader refuses a parameter it does not have.
            spec = {"extends": os.path.relpath(ROOT / path, d), "parameters": edits}
            models[role] = str(d / f"{stem}.yaml")
            edited[Path(models[role])] = spec
    if params:
        target = sorted(params)[0]
        stems = sorted({Path(path).stem for path in models.values()})
        raise ConfigError(
            COMMAND_LINE,
            f"{target}:{next(iter(params[target]))}",
            f"no model file or role named '{target}' in stdp.models of {base} (files: "
            f"{', '.join(stems)}; roles: {', '.join(models)})",
        )
    d.mkdir(parents=True, exist_ok=True)
    for file, spec in edited.items():
        file.write_text(yaml.safe_dump(spec, sort_keys=False))
    path = d / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def module(*args) -> None:
    """Run a task in a process group of its own; SIGTERM or SIGINT to this script ends the group
    (the task and the compiled program it started), which would otherwise run on, orphaned."""
    print("+ python -m", " ".join(map(str, args)), flush=True)
    with subprocess.Popen(
        [sys.executable, "-m", *map(str, args)], cwd=ROOT, start_new_session=True
    ) as proc:

        def stop(signum, frame):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise SystemExit(128 + signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            code = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if code:  # (the task has said why: a refused input in one line, exit status 2)
        raise SystemExit(code)


def variant_name(text: str) -> str:
    """An argparse type: a variant's name, one folder under `OUT` (a name with a '/' or '..'
    would write, and resume, somewhere else: ``../../etc`` trained into bench/etc/)."""
    if text in ("", ".", "..") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(
            f"must be one folder name (no '/', not '.' or '..'), got {text!r}"
        )
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; ``--record`` without ``--test`` refused (exit 2) before any training."""
    p = argparse.ArgumentParser(
        prog="python bench/stdp_validate.py", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "name",
        type=variant_name,
        help="the variant's name: its files go to bench/out/validate/NAME/, where a rerun "
        "resumes (one folder name: no '/', not '.' or '..')",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        help="FILE:PARAMETER=VALUE (an equation file's stem or its role in stdp.models: "
        "input_exc:nu_post=0.08) or cfg:KEY.SUB=VALUE (a configuration value: "
        "cfg:stdp.models.exc=equations/dc_exc_unclamped.yaml)",
    )
    # (its types: refused here, before the variant's files are written)
    p.add_argument(
        "--seed",
        type=tasks.seed,
        default=0,
        help="the bioclf.stdp.train option (default: %(default)s)",
    )
    p.add_argument(
        "--n-exc",
        type=tasks.count,
        default=100,
        help="the bioclf.stdp.train option (default: %(default)s)",
    )
    p.add_argument("--epochs", type=tasks.count, help="the bioclf.stdp.train option")
    p.add_argument(
        "--config",
        type=Path,
        default=ROOT / "config" / "config.yaml",
        help="the configuration the variant starts from (default: config/config.yaml)",
    )
    p.add_argument("--continue-from", type=Path, help="the bioclf.stdp.train option")
    p.add_argument("--test", action="store_true", help="evaluate on the test set as well")
    p.add_argument(
        "--record",
        type=tasks.out_file,  # (a directory, or a place that cannot be written: refused here)
        metavar="FILE",
        help="append the run's record (test accuracy, command, commit) to FILE, e.g. "
        "results/runs.jsonl; needs --test",
    )
    args = p.parse_intermixed_args(argv)  # overrides may come before or after the options
    if args.record and not args.test:
        p.error("--record needs --test: a record holds the test accuracy")
    return args


def recorded_command(argv: list[str]) -> str:
    """The command line of the arguments `argv`, as typed from the project root, without the
    ``--record FILE`` option (also ``--record=FILE``, or abbreviated as argparse allows)."""
    kept, words = [], iter(argv)
    for word in words:
        if word == "--":  # (what follows is no option)
            kept += [word, *words]
            break
        option, sep, _ = word.partition("=")
        if len(option) > 2 and "--record".startswith(option):
            if not sep:
                next(words, None)  # its value
            continue
        kept.append(word)
    return shlex.join(["python", "bench/stdp_validate.py", *kept])


def run_record(result: dict, test: dict, command: str, commit: str) -> dict:
    """The record (`bioclf.run_records`) of the run `result` (its results.jsonl line), whose
    test metrics are `test`."""
    record = {
        "name": result["name"],
        "seed": result["seed"],
        "test_accuracy": test["accuracy"],
        "n_test": test["n_test"],
        "command": command,
        "commit": commit,
    }
    record |= {k: v for k, v in result.items() if k not in record}
    machine = test.get("provenance", {}).get("machine")
    return record | ({"processor": machine} if machine else {})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.record:  # checked before hours of training; the commit is the code that runs
        run_records.check_new(args.record, args.name)  # (naming the file as given)
        args.record = args.record.resolve()  # (appended to after the chdir below)
        commit = run_records.commit(ROOT, args.record)
    base = args.config.resolve()
    more = ("--continue-from", args.continue_from.resolve()) if args.continue_from else ()
    os.chdir(ROOT)  # relative paths in the configuration
    config = variant_config(args.name, args.overrides, base)
    cfg = cfgmod.load(config)
    n_assign, n_train = cfg["stdp"]["n_assign"], cfg["stdp"]["n_train"]
    if n_train <= N_VAL:  # (checked before training, not after)
        raise ConfigError(
            config,
            "stdp.n_train",
            f"{n_train} training images: the validation images are the last {N_VAL} of them, "
            "and labels need others before those",
        )
    if n_assign > n_train - N_VAL:
        raise ConfigError(
            config,
            "stdp.n_assign",
            f"labels from the first {n_assign} training images would overlap the validation "
            f"images, the last {N_VAL} of the {n_train} of stdp.n_train",
        )
    trained = OUT / args.name / "trained"
    common = ("--config", config, "--trained", trained)
    epochs = ("--epochs", args.epochs) if args.epochs else ()
    module("bioclf.stdp.train", "--config", config, "--n-exc", args.n_exc, *epochs,
           "--seed", args.seed, "--out", trained, *more)  # fmt: skip
    module("bioclf.stdp.assign", *common, "--out", trained / "assign")
    images, labels = setup.data(cfg, "train", n_train, "stdp.n_train")
    # Keyed as 'test' so that the spike trains differ from those the images had in training.
    _, rec, _ = run_frozen(cfg, trained, "test", images[-N_VAL:], labels[-N_VAL:], trained / "val")
    assignment = trained / "assign" / "assignment.npy"
    pred = labelling.predict(rec["counts"], np.load(assignment))
    result = {
        "name": args.name,
        "seed": args.seed,
        "n_exc": args.n_exc,
        "epochs": json.loads((trained / "train_metrics.json").read_text())["epochs"],
        **({"continue_from": str(args.continue_from)} if args.continue_from else {}),
        "overrides": args.overrides,
        "val_accuracy": float(np.mean(pred == labels[-N_VAL:])),
    }
    if args.test:
        module(
            "bioclf.stdp.evaluate", *common, "--assignment", assignment, "--out", trained / "test"
        )
        test = json.loads((trained / "test" / "metrics.json").read_text())
        result["test_accuracy"] = test["accuracy"]
    print(json.dumps(result), flush=True)
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    if args.record:
        record = run_record(result, test, recorded_command(argv), commit)
        run_records.append(args.record, record)
        print(f"recorded {args.name} in {args.record}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=True))
