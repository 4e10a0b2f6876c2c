"""The runtime wheel (what `pip install jupyternetes` and the production images get) carries the components, the
CRDs and the policies, and not the development harness; installed from it, `jupyternetes dev` says where the harness
is instead of failing with a traceback."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.seeds import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    uv = Path(sys.executable).parent / "uv"
    done = subprocess.run([str(uv), "build", "--wheel", "-o", str(out), str(REPO_ROOT)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return next(out.glob("jupyternetes-*.whl"))


def test_the_wheel_has_the_components_crds_and_policies_and_no_harness(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("jupyternetes/cli.py", "jupyternetes/kube/client.py", "jupyternetes/operator/reconcile.py",
                     "jupyternetes/webhook/judge.py", "jupyternetes/spawner/spawner.py",
                     "jupyternetes/spawner/templates/not_running.html",
                     "jupyternetes/_data/crds/kadense.io_jupyternotebookinstances.yaml",
                     "jupyternetes/_data/policies/data.yaml"):
        assert expected in names, expected
    assert not [name for name in names if name.startswith("jupyternetes/dev/")]


def test_installed_from_the_wheel_dev_says_where_the_harness_is(wheel: Path, tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=False, system_site_packages=False)
    python = tmp_path / "venv" / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    done = subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), str(wheel)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    run = subprocess.run([str(python), "-m", "jupyternetes", "dev", "up"], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "the development harness (jupyternetes dev) is not part of this installation" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
