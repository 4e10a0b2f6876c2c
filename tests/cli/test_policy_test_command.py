"""`jupyternetes policy test` finds OPA the way an officer's machine has it: `--opa`, `$JUPYTERNETES_OPA`, then `opa` on
PATH; it builds OPA from its Go module only as a last resort, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyternetes.dev import toolchain
from tests.seeds import REPO_ROOT

SEED = REPO_ROOT / "examples" / "00-seed" / "template.yaml"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies",
                           str(REPO_ROOT / "policies"), *args, str(SEED)], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No Go and no cache on the way: HOME points at an empty directory (so no built OPA is found in the cache), and
    PATH has only the Python that runs the command and what `extra` adds."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTERNETES_OPA", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), extra.pop("PATH", "")])
    return {**env, **extra}


def _opa() -> Path:
    return toolchain.ensure(["opa"], log=False)["opa"]


def test_opa_from_the_flag_the_environment_or_path_and_nothing_is_built(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "opa").symlink_to(_opa())
    for env, args in ((_env(tmp_path), ("--opa", str(_opa()))),
                      (_env(tmp_path, JUPYTERNETES_OPA=str(_opa())), ()),
                      (_env(tmp_path, PATH=str(bin_dir)), ())):
        done = _run(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("ALLOW JupyterNotebookTemplate kadense/default-template")
        assert "building OPA" not in done.stderr


def test_an_opa_that_is_not_there_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = _run(_env(tmp_path), "--opa", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("is not an executable opa binary (from --opa or $JUPYTERNETES_OPA)")
