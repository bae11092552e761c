"""The environment script refuses an install that the disk cannot hold, before touching it."""

import os
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
