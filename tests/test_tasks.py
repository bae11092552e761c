"""The entry points' shared plumbing: exit statuses and the machine named in results."""

from bioclf import tasks
from bioclf.errors import InputFileError

ZEN1 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2

processor\t: 1
model name\t: another processor
"""


def test_cpu_model_gives_family_and_model(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN1)
    assert tasks.cpu_model(str(cpuinfo)) == "AMD EPYC (family 23, model 1)"


def test_cpu_model_without_cpuinfo(tmp_path):
    name = tasks.cpu_model(str(tmp_path / "absent"))
    assert name and "family" not in name


def test_bad_input_exits_with_status_2(capsys):
    def main(argv):
        raise InputFileError("config/x.yaml", "stdp.n", "must be positive")

    assert tasks.run(main, []) == 2
    err = capsys.readouterr().err
    assert "config/x.yaml" in err and "stdp.n" in err
