"""The environment script refuses an install that the disk cannot hold, before touching it;
bench/gpu/fetch_wheels.sh finds a Python 3.12 by itself or says it found none."""

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, free_kb, **env):
    fake = tmp_path / "bin"
    fake.mkdir()
    # A df that reports `free_kb` available on every filesystem.
    (fake / "df").write_text(
        "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
        f"echo '/dev/x 1 1 {free_kb} 99% /'\n"
    )
    (fake / "df").chmod(0o755)
    # A Python that passes the version test, then stops where the venv would be created.
    (fake / "python3.12").write_text(
        '#!/bin/sh\ncase "$1" in -c) exit 0;; --version) echo 3.12;;\n'
        "*) echo REACHED >&2; exit 3;; esac\n"
    )
    (fake / "python3.12").chmod(0o755)
    venv = tmp_path / "venv"
    full_env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "VENV": str(venv),
        "TMPDIR": str(tmp_path),
        "PYTHON": str(fake / "python3.12"),
        **env,
    }
    out = subprocess.run(
        [str(ROOT / "scripts" / "setup-env.sh")], env=full_env, capture_output=True, text=True
    )
    return out, venv


def test_too_little_disk_is_refused_with_a_clear_error(tmp_path):
    out, venv = _run(tmp_path, free_kb=300_000)
    assert out.returncode == 1
    assert "needs about 10 GB free" in out.stderr and "292 MB are free" in out.stderr
    assert "BIOCLF_SKIP_DISK_CHECK" in out.stderr
    assert not venv.exists()


def test_enough_disk_passes_the_check(tmp_path):
    out, _ = _run(tmp_path, free_kb=50 * 1024 * 1024)
    assert "GB free" not in out.stderr
    assert out.returncode == 3 and "REACHED" in out.stderr


def test_the_check_can_be_skipped(tmp_path):
    out, _ = _run(tmp_path, free_kb=300_000, BIOCLF_SKIP_DISK_CHECK="1")
    assert "GB free" not in out.stderr
    assert out.returncode == 3 and "REACHED" in out.stderr


def _fake_python(path: Path, version: str) -> Path:
    """A Python that says it is `version` (with pip) and logs what pip would do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = "0" if version == "3.12" else "1"
    path.write_text(
        f'#!/bin/sh\ncase "$1" in -c) exit {ok};; -m) echo "$0 $*" >> "$PIP_LOG";; esac\n'
    )
    path.chmod(0o755)
    return path


def _fetch_wheels(tmp_path, fakes: dict[str, str], **env):
    """Run bench/gpu/fetch_wheels.sh in a copy of the project (no .venv unless the test made
    one), with only `fakes` (name: version) as Pythons on the PATH and no pyenv; returns the
    result, the project and the pip commands run."""
    project = tmp_path / "project"
    script = project / "bench" / "gpu" / "fetch_wheels.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text((ROOT / "bench" / "gpu" / "fetch_wheels.sh").read_text())
    (project / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts" / "constraints.txt", project / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, version in fakes.items():
        _fake_python(bin_dir / name, version)
    tools = tmp_path / "tools"  # what the script needs besides Python, and nothing else
    if not tools.exists():
        tools.mkdir()
        for tool in ("dirname", "rm", "mkdir", "ls", "grep"):
            (tools / tool).symlink_to(shutil.which(tool))
    log = tmp_path / "pip.log"
    log.unlink(missing_ok=True)
    full_env = {
        "PATH": f"{bin_dir}:{tools}",
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
        "PIP_LOG": str(log),
        **env,
    }
    out = subprocess.run(
        [shutil.which("bash"), str(script)], env=full_env, capture_output=True, text=True
    )
    return out, project, (log.read_text().splitlines() if log.exists() else [])


def test_fetch_wheels_finds_a_python_3_12_without_a_venv(tmp_path):
    out, project, pips = _fetch_wheels(tmp_path, {"python3": "3.11", "python3.12": "3.12"})
    assert out.returncode == 0, out.stderr
    assert len(pips) == 2  # pip download, pip wheel
    assert all(line.startswith(f"{tmp_path}/bin/python3.12 -m pip ") for line in pips)
    # Brian2's dependencies at the versions the project's environment has
    text = (ROOT / "scripts" / "constraints.txt").read_text()
    pins = re.findall(r"(?m)^(?:jsonschema|referencing|rpds-py|pyparsing)==\S+$", text)
    assert len(pins) == 4 and all(f" {pin} " in pips[0] for pin in pins), pips[0]
    assert (project / ".whl").is_dir()
    # pyenv's 3.12 where the PATH has none (pyenv's shim of a version not selected fails)
    pyenv = _fake_python(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.12", "3.12")
    (tmp_path / "bin" / "python3.12").unlink()
    out, _, pips = _fetch_wheels(tmp_path, {})
    assert out.returncode == 0 and pips[0].startswith(f"{pyenv} -m pip ")


def test_fetch_wheels_prefers_the_projects_venv(tmp_path):
    _fake_python(tmp_path / "project" / ".venv" / "bin" / "python", "3.12")
    out, _, pips = _fetch_wheels(tmp_path, {"python3.12": "3.12"})
    assert out.returncode == 0, out.stderr
    assert pips[0].startswith(".venv/bin/python -m pip ")


def test_fetch_wheels_without_a_python_3_12_says_so_and_leaves_whl_alone(tmp_path):
    (tmp_path / "project" / ".whl").mkdir(parents=True)
    (tmp_path / "project" / ".whl" / "kept.whl").write_text("")
    out, project, pips = _fetch_wheels(tmp_path, {"python3": "3.11"})
    assert out.returncode == 2
    assert "no Python 3.12 with pip found" in out.stderr and "PYTHON=" in out.stderr
    assert not pips and (project / ".whl" / "kept.whl").exists()
    # a PYTHON that is not 3.12 is refused by name, not passed over
    bad = _fake_python(tmp_path / "py311" / "python", "3.11")
    out, _, pips = _fetch_wheels(tmp_path, {"python3.12": "3.12"}, PYTHON=str(bad))
    assert out.returncode == 2 and f"PYTHON={bad} is not a Python 3.12 with pip" in out.stderr
    assert not pips


def _pip_commands(tmp_path, **env) -> list[str]:
    """The pip commands setup-env.sh runs into a venv whose Python only logs them."""
    venv = tmp_path / "venv"
    _fake_python(venv / "bin" / "python", "3.12")
    log = tmp_path / "pip.log"
    full_env = {
        **os.environ,
        "VENV": str(venv),
        "PIP_LOG": str(log),
        "BIOCLF_SKIP_DISK_CHECK": "1",
        "BIOCLF_UNPINNED": "",
        **env,
    }
    out = subprocess.run(
        [str(ROOT / "scripts" / "setup-env.sh")], env=full_env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [line for line in log.read_text().splitlines() if " -e " in line]


def test_the_environment_installs_the_constrained_versions(tmp_path):
    """`make env` installs the versions of scripts/constraints.txt; BIOCLF_UNPINNED=1 the
    newest that pyproject.toml allows."""
    (install,) = _pip_commands(tmp_path / "pinned")
    assert install.endswith("-e .[test] -c scripts/constraints.txt")
    (install,) = _pip_commands(tmp_path / "unpinned", BIOCLF_UNPINNED="1")
    assert install.endswith("-e .[test]")


def test_the_constraints_pin_every_dependency_within_its_range():
    """Every dependency of pyproject.toml (the test extra's too) has one exact version in
    scripts/constraints.txt, and that version is one pyproject.toml allows: a dependency added
    or a range changed without `make constraints` fails here."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {}
    for line in (ROOT / "scripts" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert canonicalize_name(name) not in pinned, line
            pinned[canonicalize_name(name)] = version
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(text)
        version = pinned.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not pinned in scripts/constraints.txt"
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version}: {req}"
