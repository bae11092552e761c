"""Configuration files validate; a bad value is refused with its key named."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from conftest import ROOT

from bioclf import config
from bioclf.equations.quantities import evaluate_quantity
from bioclf.errors import ConfigError

SHIPPED = sorted(p.stem for p in (ROOT / "config").glob("*.yaml") if p.stem != "schema")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configurations_validate(name):
    config.load(ROOT / "config" / f"{name}.yaml")


BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.mark.parametrize(
    "path,value,key",
    [
        (("stdp", "backend"), "tpu", "stdp.backend"),
        (("stdp", "sizes"), [{"n": 0, "epochs": 1}], "stdp.sizes.0.n"),
        (("stdp", "chunk"), 0, "stdp.chunk"),
        (("stdp", "protocol", "dt"), "0.5*mV", "stdp.protocol.dt"),
        (("stdp", "protocol", "max_rate"), "fast", "stdp.protocol.max_rate"),
        (("surrogate", "runs"), [{"arch": "rnn"}], "surrogate.runs.0.arch"),
        (("stdp", "models", "exc"), "equations/missing.yaml", "stdp.models.exc"),
        # a directory: refused naming the field, not only the path (as the equation loader does)
        (("stdp", "models", "exc"), "equations", "stdp.models.exc"),
        (("seeds",), [], "seeds"),
        # no simulator: the neuron check wrote "passed": true having run nothing
        (("neuron_check", "backends"), [], "neuron_check.backends"),
        # a misspelt file name would leave the file unchecked
        (("data", "checksums"), {"t10k-images": "0" * 32}, "data.checksums"),
        (("seeds",), [0, 2**32], "seeds.1"),  # what --seed refuses: the job would fail
        (("surrogate", "epochs"), "ten", "surrogate.epochs"),
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "surrogate_gradient": "sigmoid"}],
            "surrogate.runs.0.surrogate_gradient",
        ),
        (("surrogate", "slope"), 0, "surrogate.slope"),
        (("stdp", "protocol", "encoding"), "phase", "stdp.protocol.encoding"),
        # the presentation protocol's own checks (bioclf.stdp.protocol.Protocol)
        (("stdp", "protocol", "present"), "350.2*ms", "stdp.protocol.present"),
        (("stdp", "protocol", "max_intensity"), 1, "stdp.protocol.max_intensity"),
        # above the size of the split in data/mnist (read from its two files' headers)
        (("stdp", "n_test"), 10001, "stdp.n_test"),
        # the surrogate's too (it used to take all the images there were, without a word)
        (("surrogate", "n_test"), 10001, "surrogate.n_test"),
        (("sweep_budget",), {"surrogate": {"n_test": 10001}}, "sweep_budget.surrogate.n_test"),
        (("surrogate", "export"), {"backend": "cpp", "n_test": 10001}, "surrogate.export.n_test"),
        (("stdp", "n_assign"), 60001, "stdp.n_assign"),
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "encoding": "temporal"}],
            "surrogate.runs.0.encoding",
        ),
        # optimiser learning rates (the schema's exclusiveMinimum: 0), the ANN twin's too;
        # STDP amplitudes are the equation files' (a negative one is an anti-Hebbian rule)
        (("surrogate", "lr"), -1e-3, "surrogate.lr"),
        (("surrogate", "lr"), 0, "surrogate.lr"),
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "hidden": 100, "lr": -1e-3}],
            "surrogate.runs.0.lr",
        ),
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "hidden": 100, "ann_lr": 0}],
            "surrogate.runs.0.ann_lr",
        ),
        # YAML's .nan and .inf: NaN passes every range of the schema
        (("surrogate", "lr"), float("nan"), "surrogate.lr"),
        (("surrogate", "weight_decay"), float("inf"), "surrogate.weight_decay"),
        (("surrogate", "checkpoint_minutes"), -1, "surrogate.checkpoint_minutes"),
        (("surrogate", "checkpoint_minutes"), float("nan"), "surrogate.checkpoint_minutes"),
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "hidden": 100, "ann_lr": float("nan")}],
            "surrogate.runs.0.ann_lr",
        ),
        # two runs that would share one results directory: the second never ran and the
        # report listed the first twice (the workflow looks a run up by its directory's name)
        (
            ("surrogate", "runs"),
            [{"arch": "fc", "hidden": 100}, {"arch": "fc", "hidden": 100, "lr": 0.01}],
            "surrogate.runs.1",
        ),
        (
            ("surrogate", "runs"),
            [{"arch": "conv", "channels": [16, 32]}, {"arch": "conv", "channels": [16, 48]}],
            "surrogate.runs.1",
        ),
        # runs whose results directory (fc<hidden>, conv) no rule makes: the workflow planned
        # nothing for them ("Nothing to be done" beside another configuration's results)
        (("surrogate", "runs"), [{"arch": "fc"}], "surrogate.runs.0.hidden"),
        (("surrogate", "runs"), [{"arch": "conv", "hidden": 100}], "surrogate.runs.0.hidden"),
        (("stdp", "sizes"), [{"n": 100, "epochs": 1}, {"n": 100, "epochs": 3}], "stdp.sizes.1"),
        (("seeds",), [0, 1, 0], "seeds"),
        (("neuron_check", "backends"), ["cpp", "cpp"], "neuron_check.backends"),
    ],
)
def test_bad_value_names_the_key(path, value, key):
    cfg = copy.deepcopy(BASE)
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        config.validate(cfg, "config.yaml")
    assert err.value.field == key
    assert key in str(err.value)


def test_a_presentation_of_more_steps_than_a_count_holds_is_refused_with_the_limit():
    """The user reads which file, which field and what the most is (65,535 steps of dt: the
    spike counts of a presentation are uint16), not only that the value is wrong."""
    cfg = copy.deepcopy(BASE)
    cfg["stdp"]["protocol"].update(dt="0.5*ms", present="32767.5*ms")  # 65,535 steps
    config.validate(cfg, "config.yaml")
    cfg["stdp"]["protocol"]["present"] = "32768*ms"
    with pytest.raises(ConfigError) as err:
        config.validate(cfg, "config.yaml")
    assert str(err.value).startswith(
        "configuration config.yaml: field 'stdp.protocol.present': 65536 time steps"
    )
    assert "65535" in str(err.value)


def test_sample_counts_are_checked_only_against_data_that_is_there(tmp_path):
    """Before the data rule has fetched the files, their sizes are unknown: no refusal."""
    cfg = copy.deepcopy(BASE)
    cfg["stdp"]["n_test"] = 10001
    cfg["data"]["root"] = str(tmp_path / "not_yet_downloaded")
    config.validate(cfg, "config.yaml")


def test_unknown_key_refused():
    cfg = copy.deepcopy(BASE)
    cfg["stdp"]["n_exc"] = 100  # a plausible typo for 'sizes'
    with pytest.raises(ConfigError, match="n_exc"):
        config.validate(cfg, "config.yaml")


@pytest.mark.parametrize(
    "old, new, hint",
    [
        # PyYAML (YAML 1.1) reads an exponent form without a '.' or without a sign as text:
        # "'1e-3' is not of type 'number'" read as if 1e-3 were no number
        ("lr: 0.001", "lr: 1e-3", "write 1.0e-3 or 0.001"),
        ("lr: 0.001", "lr: 1.0e3", "write 1.0e+3 or 1000"),
        ("seeds: [0]", "seeds: [0, '1']", "write 1 without quotes"),
    ],
)
def test_a_number_read_as_text_is_refused_saying_how_to_write_it(tmp_path, old, new, hint):
    text = (ROOT / "config" / "smoke.yaml").read_text()
    assert old in text
    path = tmp_path / "c.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match="is not of type") as err:
        config.load(path)
    assert hint in str(err.value)


def test_unreadable_yaml(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("stdp: [unclosed")
    with pytest.raises(ConfigError, match="YAML"):
        config.load(bad)


@pytest.mark.parametrize(
    "path, key, field, reason",
    [
        # the section was named, and the key only inside jsonschema's sentence
        (
            ("stdp",),
            "ntrain",
            "stdp.ntrain",
            "unknown key (did you mean 'n_train'? the keys of stdp: models, backend, threads, ",
        ),
        (
            ("surrogate", "runs", 0),
            "hiden",
            "surrogate.runs.0.hiden",
            "unknown key (did you mean 'hidden'?",
        ),
        ((), "seed", "seed", "unknown key (did you mean 'seeds'? the keys at the top level: "),
        (("ann",), "on", "ann.on", "unknown key (the keys of ann: enabled)"),
    ],
)
def test_an_unknown_key_is_named_in_full_with_the_closest_known_one(path, key, field, reason):
    cfg = copy.deepcopy(BASE)
    node = cfg
    for part in path:
        node = node[part]
    node[key] = 1
    with pytest.raises(ConfigError) as err:
        config.validate(cfg, "c.yaml")
    assert err.value.field == field
    assert err.value.reason.startswith(reason), err.value.reason


def test_a_key_given_twice_is_refused_naming_it_and_its_lines(tmp_path):
    """YAML keeps the last value of a key given twice, so that an edit made to the first
    (`lr` of the surrogate section, say) changed nothing without a word."""
    text = (ROOT / "config" / "smoke.yaml").read_text()
    path = tmp_path / "c.yaml"
    path.write_text(
        text.replace("  lr: 0.001\n", "  lr: 0.001\n  weight_decay: 0\n  lr: 0.002\n", 1)
    )
    first = text.splitlines().index("  lr: 0.001") + 1
    with pytest.raises(ConfigError) as err:
        config.read(path)
    assert str(err.value) == (
        f"configuration {path}: field 'surrogate.lr': given twice (lines {first} and "
        f"{first + 2}); YAML would silently keep the second"
    )
    # the same name in two sections is no repetition
    path.write_text(text)
    assert config.read(path)["surrogate"]["lr"] == 0.001


@pytest.mark.parametrize(
    "text, field, lines",
    [
        ("a: 1\nb: 2\na: 3\n", "a", (1, 3)),
        ("s: {x: 1, x: 2}\n", "s.x", (1, 1)),  # flow style
        ("1: a\n0x1: b\n", "0x1", (1, 2)),  # one key as YAML reads it
        ("1: a\n1.0: b\n", "1.0", (1, 2)),  # one key of a Python dict
        ("runs:\n  - {name: a}\n  - name: b\n    name: c\n", "runs.1.name", (3, 4)),
    ],
)
def test_a_key_given_twice_is_the_same_key_as_yaml_makes_it(tmp_path, text, field, lines):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.read(path)
    assert err.value.field == field
    assert err.value.reason.startswith(f"given twice (lines {lines[0]} and {lines[1]})")


@pytest.mark.parametrize(
    "text, data",
    [
        ('1: a\n"1": b\n', {1: "a", "1": "b"}),  # an integer and a string: two keys
        (
            "b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n",
            {"b": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}},
        ),
        ("a: &a {x: 1}\nb: *a\nc: *a\n", {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}}),
    ],
)
def test_keys_yaml_keeps_apart_are_no_repetition(tmp_path, text, data):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert config.read(path) == data


def test_a_recursive_alias_is_read_not_a_recursion_error(tmp_path):
    """YAML builds a structure that holds itself; the check of repeated keys visits each of its
    nodes once (it recursed without end, a RecursionError traceback)."""
    path = tmp_path / "c.yaml"
    path.write_text("a: &a {b: *a}\n")
    data = config.read(path)
    assert data["a"]["b"] is data["a"]
    # and an alias of aliases is checked in time linear in the file, not in the data
    path.write_text(
        "l0: &l0 [x, x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 40))
    )
    assert len(config.read(path)) == 40


def test_shell_word_quotes_only_what_a_shell_would_read_as_syntax():
    """The workflow's paths on the jobs' command lines: one argument each, and the text as it
    was before they were quoted wherever no quoting is needed (else finished jobs rerun)."""
    import shlex

    for plain in ("data/mnist", "/abs/data-1_x.y", "données/mnïst", "a=b,c:d@e%f+g"):
        assert config.shell_word(plain) == plain
    for text in ("data/my mnist", "~/mnist", "$HOME/x", "it's", "a;b", "*", ""):
        assert config.shell_word(text) == shlex.quote(text) != text
        assert shlex.split(config.shell_word(text)) == [text]


def test_config_check_names_the_file_snakemake_would_not(tmp_path, capsys):
    """Snakemake refuses a malformed --configfile without its name ("Config file is not valid
    JSON or YAML"); the task names file, line and key, and merges files as Snakemake does."""
    from bioclf import config_check, tasks

    bad = tmp_path / "bad.yaml"
    bad.write_text("stdp:\n  threads: [1\n")
    assert tasks.run(config_check.main, [str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: configuration {bad}: field '(YAML syntax)'") and "line 3" in err
    # a second file overrides one value of the first, section by section, and is checked with it
    part = tmp_path / "part.yaml"
    part.write_text("stdp:\n  threads: 0\n")
    default = str(ROOT / "config" / "config.yaml")
    assert tasks.run(config_check.main, [default, str(part)]) == 2
    assert f"{default} + {part}: field 'stdp.threads'" in capsys.readouterr().err
    part.write_text("stdp:\n  threads: 2\n")
    assert tasks.run(config_check.main, [default, str(part)]) == 0
    assert capsys.readouterr().out.startswith(f"{default} + {part}: valid")
    # what the workflow refuses as it starts: a surrogate neuron whose path needs quoting
    neuron = tmp_path / "my lif.yaml"
    neuron.write_text((ROOT / "equations" / "lif.yaml").read_text())
    part.write_text(f"surrogate:\n  neuron: {neuron}\n")
    assert tasks.run(config_check.main, [default, str(part)]) == 2
    assert f"field 'surrogate.neuron': '{neuron}': the surrogate jobs' commands take" in (
        capsys.readouterr().err
    )
    # alone, a partial file is not a configuration (Snakemake then reads no config.yaml)
    assert tasks.run(config_check.main, [str(part)]) == 2
    assert "'data' is a required property" in capsys.readouterr().err


def test_schema_encodings_are_the_package_encodings():
    """The schema's lists of input codes (static, for Snakemake's validation) name exactly the
    codes `bioclf.encoding` implements."""
    from bioclf.encoding import ENCODINGS

    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if path and path[-1] == "encoding" and "enum" in node:
                found.append((".".join(path), node["enum"]))
            for key, value in node.items():
                walk(value, (*path, str(key)))

    walk(yaml.safe_load((ROOT / "config" / "schema.yaml").read_text()), ())
    assert len(found) == 2, found  # stdp.protocol and the surrogate runs
    for where, enum in found:
        assert enum == list(ENCODINGS), where


def test_stdp_settings_hold_what_each_stage_reads():
    """A job's settings (its input file in the workflow) hold the values of its stage and of
    the stages before it, and none that only say how jobs run."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    stages = {s: config.stdp_settings(cfg, 100, s)["stdp"] for s in config._STDP_STAGES_ALL}
    for values in stages.values():
        assert not values.keys() & {"threads", "chunk", "shards", "backend"}
        assert values["size"] == {"n": 100, "epochs": 1} and "n_train" in values
    assert "reset_between_samples" not in stages["train"]["protocol"]
    assert "reset_between_samples" in stages["frozen"]["protocol"]
    assert {k for s, v in stages.items() for k in v if k in ("n_assign", "n_test")} == {
        "n_assign",
        "n_test",
    }
    assert "n_test" not in stages["assign"] and "n_assign" not in stages["respond"]
    assert stages["evaluate"]["n_assign"] == 10000 and stages["evaluate"]["n_test"] == 10000
    # a file that leaves reset_between_samples out means its default, off: the same results
    unset = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    del unset["stdp"]["protocol"]["reset_between_samples"]
    for stage in config._STDP_STAGES_ALL:
        assert config.stdp_settings(unset, 100, stage)["stdp"] == stages[stage], stage
    assert stages["frozen"]["protocol"]["reset_between_samples"] is False
    text = config.settings_text(config.stdp_settings(cfg, 100, "train"))
    reordered = dict(reversed(list(cfg["stdp"].items())))
    assert (
        config.settings_text(config.stdp_settings({**cfg, "stdp": reordered}, 100, "train")) == text
    )


def test_stdp_settings_are_one_run_for_a_default_stated_or_left_out():
    """Every optional protocol key (and data key) means its default when left out, and a
    quantity is its value however written: such files share their results (one settings
    text); a value that differs does not."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    explicit = copy.deepcopy(cfg)
    explicit["stdp"]["protocol"].update(encoding="rate", base_intensity=2.0, present="0.35*second")
    explicit["stdp"]["protocol"]["dt"] = "500*us"
    bare = copy.deepcopy(cfg)
    bare["stdp"]["protocol"] = {}
    bare["data"] = {"root": cfg["data"]["root"]}
    for stage in config._STDP_STAGES_ALL:
        texts = {
            config.settings_text(config.stdp_settings(c, 100, stage)) for c in (cfg, explicit, bare)
        }
        assert len(texts) == 1, (stage, texts)
    for key, value in [("encoding", "latency"), ("min_spikes", 6), ("dt", "0.25*ms")]:
        other = copy.deepcopy(cfg)
        other["stdp"]["protocol"][key] = value
        assert config.stdp_settings(other, 100, "train") != config.stdp_settings(cfg, 100, "train")


def test_a_settings_file_of_the_form_before_keeps_its_results(tmp_path):
    """A settings file written before protocol and data values were normalised (the protocol
    as the file stated it) holds the same values: it takes the new form with its time stamp,
    so that the results it describes are not made again; other values are other values."""
    import json
    import os

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for stage in ("train", "frozen"):
        new = config.stdp_settings(cfg, 100, stage)
        raw = dict(cfg["stdp"]["protocol"])
        if stage == "train":
            del raw["reset_between_samples"]
        old = {**new, "stdp": {**new["stdp"], "protocol": raw}}
        old["data"] = {"root": cfg["data"]["root"]}
        path = tmp_path / f"{stage}.json"
        path.write_text(config.settings_text(old))
        os.utime(path, (1e9, 1e9))
        text = config.settings_text(new)
        assert config.carry_over(path, text, dry_run=True)
        assert path.read_text() == config.settings_text(old)  # a dry run changes nothing
        assert config.carry_over(path, text, dry_run=False)
        assert (path.read_text(), path.stat().st_mtime) == (text, 1e9)
        other = {**old, "stdp": {**old["stdp"], "protocol": {**raw, "dt": "0.25*ms"}}}
        path.write_text(config.settings_text(other))
        assert not config.carry_over(path, text, dry_run=False)
        assert json.loads(path.read_text()) == json.loads(config.settings_text(other))


def test_settings_written_as_a_run_plans_are_given_back_unless_it_starts(tmp_path):
    """`SettingsWrites.undo` gives a changed file its text and time stamp back and removes a
    new one (a file written unchanged is not touched); after `keep` (the run started) nothing
    is given back, neither what was written before nor what is written after."""
    import os

    old, same, new = tmp_path / "a" / "old.json", tmp_path / "same.json", tmp_path / "b" / "n.json"
    for path in (old, same):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("before\n")
        os.utime(path, (1e9, 1e9))
    writes = config.SettingsWrites()
    writes.write(old, "after\n")
    writes.write(old, "later\n")  # (the first text is the one given back)
    writes.write(same, "before\n")
    writes.write(new, "new\n")
    assert old.read_text() == "later\n" and new.exists()
    writes.undo()
    for path in (old, same):
        assert (path.read_text(), path.stat().st_mtime) == ("before\n", 1e9)
    assert not new.exists()
    writes.write(old, "after\n")
    writes.keep()
    writes.write(new, "new\n")
    writes.undo()
    assert old.read_text() == "after\n" and new.read_text() == "new\n"


def test_a_surrogate_settings_file_without_its_neuron_file_held_the_one_of_then(tmp_path):
    """The surrogate training's settings name its neuron file since the path alone could
    change (an older file: nothing reran); a file written before holds equations/lif.yaml, the
    one every run had then, and not another (that one reruns its jobs). A job whose values
    have no neuron file (the ANN twin's) is left as it was."""
    path = tmp_path / "fc100_seed0.json"
    old = {"flags": "--arch fc --hidden 100"}
    for neuron, same in [("equations/lif.yaml", True), ("equations/lif2.yaml", False)]:
        path.write_text(config.settings_text(old))
        assert (
            config.carry_over(path, config.settings_text({**old, "neuron": neuron}), True) is same
        )
    assert config.carry_over(path, config.settings_text(old), dry_run=False)


def test_a_neuron_check_settings_file_of_the_form_before_keeps_its_results(tmp_path):
    """The neuron check's settings held its section as written (``0.01*ms``; ``10*us`` reran
    the check): a file of that form holds the values of the SI form, and other values not."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    path = tmp_path / "all.json"
    text = config.settings_text(config.neuron_check_values(cfg))
    for dt, same in [("0.01*ms", True), ("10*us", True), ("0.02*ms", False)]:
        path.write_text(config.settings_text({"neuron_check": {**cfg["neuron_check"], "dt": dt}}))
        assert config.carry_over(path, text, dry_run=True) is same, dt


def test_command_line_values_inside_a_section_are_typed_as_at_the_top_level():
    """Snakemake reads `surrogate={epochs: 2}` as {'epochs': '2'}; the schema wants 2."""
    given = {
        "surrogate": {"epochs": "2", "lr": "1e-3", "neuron": "equations/lif.yaml"},
        "seeds": ["0", "1"],
        "stdp": {"backend": "cpp", "trace": "false"},
        "build": "b",
    }
    assert config.command_line_values(given) == {
        "surrogate": {"epochs": 2, "lr": 1e-3, "neuron": "equations/lif.yaml"},
        "seeds": [0, 1],
        "stdp": {"backend": "cpp", "trace": False},
        "build": "b",
    }


#: Keys of the surrogate section and of its runs that reach the jobs other than through
#: SUR_OPTIONS (workflow/rules/common.smk), and where.
_SURROGATE_KEYS_ELSEWHERE = {
    "neuron": "the rules' --neuron {input.neuron}",
    "runs": "one job per run",
    "export": "the Brian2 export's rule",
    "checkpoint_minutes": "SUR_RUNNING: how often a job checkpoints changes no result",
    "arch": "sur_flags",
    "hidden": "sur_flags",
    "channels": "sur_flags",
    "stride1": "sur_flags",
    "conv_hidden": "sur_flags",
    "ann_lr": "ann_flags",
}


def _common_smk_list(name: str) -> list:
    """The list literal assigned to `name` at the top level of workflow/rules/common.smk."""
    import ast
    import re

    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    found = re.search(rf"^{name} = (\[.*?^\])", text, re.M | re.S)
    assert found, f"no {name} in workflow/rules/common.smk"
    return ast.literal_eval(found.group(1))


def test_every_surrogate_setting_of_the_schema_reaches_the_training_command():
    """A surrogate setting added to the schema but not to SUR_OPTIONS was accepted and ignored:
    the jobs ran with the option's default, and changing the value reran nothing."""
    from dataclasses import fields

    from bioclf.surrogate.options import TrainConfig

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    section = schema["properties"]["surrogate"]["properties"]
    keys = set(section) | set(section["runs"]["items"]["properties"])
    options = dict(_common_smk_list("SUR_OPTIONS"))
    unread = keys - set(options) - set(_SURROGATE_KEYS_ELSEWHERE)
    assert not unread, f"add {sorted(unread)} to SUR_OPTIONS in workflow/rules/common.smk"
    assert not set(_SURROGATE_KEYS_ELSEWHERE) - keys  # (no longer a setting: drop it here)
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    for key in set(_SURROGATE_KEYS_ELSEWHERE) - {"runs"}:
        assert f'"{key}"' in rules or f"'{key}'" in rules, key
    flags = {"--" + f.name.replace("_", "-") for f in fields(TrainConfig)}  # (add_options')
    assert set(options.values()) <= flags


#: A valid value other than the default of every key of stdp.protocol in the schema.
_OTHER_PROTOCOL_VALUES = {
    "dt": "0.25*ms",
    "present": "300*ms",
    "rest": "100*ms",
    "max_rate": "50*Hz",
    "base_intensity": 3,
    "min_spikes": 6,
    "max_intensity": 16,
    "reset_between_samples": True,
    "encoding": "latency",
}


def test_every_protocol_key_of_the_schema_reaches_the_jobs_and_the_checkpoints():
    """Each stdp.protocol value of the schema changes the protocol the runs use, the jobs'
    settings files and the identity a checkpoint is compared by; each `Protocol` field is a
    key of the schema."""
    import dataclasses

    from bioclf.brian.backends import Backend
    from bioclf.stdp import setup, simulate
    from bioclf.stdp.protocol import Protocol

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    keys = set(schema["properties"]["stdp"]["properties"]["protocol"]["properties"])
    assert keys == set(_OTHER_PROTOCOL_VALUES), "a new key: give it a value here"
    assert {f.name for f in dataclasses.fields(Protocol)} == keys
    models = setup.models(BASE)

    def read(cfg):
        proto = setup.protocol(cfg)
        settings = config.stdp_settings(cfg, 100, "frozen")
        return proto, settings, simulate.definition(models, proto, 100, 1000, 0, Backend())

    before = read(BASE)
    for key, value in _OTHER_PROTOCOL_VALUES.items():
        other = copy.deepcopy(BASE)
        other["stdp"]["protocol"][key] = value
        after = read(other)
        assert all(a != b for a, b in zip(after, before, strict=True)), key


# The surrogate section's comments state what its values give ("25 steps = 125 ms", "p = 1"), in
# every shipped file that repeats the section: an edit of a value must take its comment along.
STEPS_COMMENT = re.compile(r"^  dt: (\S+) +# (\d+) steps = ([\d.]+) ms\.", re.M)
RATE_COMMENT = re.compile(r"^  max_rate: (\S+) +# .*\(p = ([\d.]+)\)$", re.M)


def surrogate_comment_errors(text: str) -> list[str]:
    """What the surrogate section's dt and max_rate comments in `text` get wrong (none: [])."""
    section = yaml.safe_load(text)["surrogate"]
    dt = float(evaluate_quantity(section["dt"]))
    errors = []
    for value, steps, window_ms in STEPS_COMMENT.findall(text):
        if int(steps) != section["time_steps"]:
            errors.append(f"{steps} steps, time_steps is {section['time_steps']}")
        if float(window_ms) != pytest.approx(int(steps) * dt * 1e3):
            errors.append(f"{steps} steps of {value} = {window_ms} ms")
    for value, p in RATE_COMMENT.findall(text):
        if float(p) != pytest.approx(float(evaluate_quantity(value)) * dt):
            errors.append(f"max_rate {value} x dt {section['dt']}: p = {p}")
    return errors


@pytest.mark.parametrize("name", SHIPPED)
def test_surrogate_comments_state_what_the_values_give(name):
    assert surrogate_comment_errors((ROOT / "config" / f"{name}.yaml").read_text()) == []


def test_a_stale_surrogate_comment_is_found():
    text = (ROOT / "config" / "config.yaml").read_text()
    assert surrogate_comment_errors(text.replace("  dt: 5*ms", "  dt: 4*ms")) == [
        "25 steps of 4*ms = 125 ms",
        "max_rate 200*Hz x dt 4*ms: p = 1",
    ]
    assert surrogate_comment_errors(text.replace("time_steps: 25", "time_steps: 50")) == [
        "25 steps, time_steps is 50"
    ]


def test_the_default_dt_comment_gives_the_membrane_decay_of_lif_yaml():
    """bioclf/surrogate/options.py states the per-step decay exp(-dt/tau_m) of its default dt with
    equations/lif.yaml's tau_m."""
    import math

    from bioclf.equations import load_neuron
    from bioclf.surrogate import options

    source = (ROOT / "bioclf" / "surrogate" / "options.py").read_text()
    stated = re.search(r"membrane decay exp\(-dt/tau_m\) = ([\d.]+) per step", source)
    tau_m = float(load_neuron(ROOT / "equations" / "lif.yaml").parameters["tau_m"])
    decay = math.exp(-options.TrainConfig().dt / tau_m)
    assert float(stated.group(1)) == pytest.approx(decay, abs=5e-4)
