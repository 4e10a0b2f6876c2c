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


def test_a_template_shows_the_defaults_the_webhook_would_fill_in(tmp_path: Path) -> None:
    """Reported: a template with `capabilities.drop: [NET_RAW]` printed a bare ALLOW, though it would be stored with
    ALL added."""
    done = _run(_env(tmp_path), "--opa", str(_opa()))
    lines = done.stdout.splitlines()
    assert "  warning: Jupyternetes default: spec.pods[0].spec.containers[0].securityContext.capabilities.drop: set "\
        "to [ALL]" in lines, done.stdout
    assert "  warning: Jupyternetes default: spec.pods[0].spec.automountServiceAccountToken: set to false" in lines


def test_json_output_for_ci_with_the_same_exit_status(tmp_path: Path) -> None:
    import json

    refused = subprocess.run(
        [sys.executable, "-m", "jupyternetes", "policy", "test", "--opa", str(_opa()), "--policies",
         str(REPO_ROOT / "policies"), "-o", "json", str(REPO_ROOT / "policies" / "images" / "samples" / "disallowed.yaml")],
        capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1, refused.stderr
    report = json.loads(refused.stdout)
    assert report["summary"] == {"allowed": 0, "denied": 1}
    assert report["results"][0]["verdict"] == "deny"
    assert {f["rule"] for f in report["results"][0]["findings"]} == {"images"}
    allowed = _run(_env(tmp_path), "--opa", str(_opa()), "-o", "json")
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["summary"] == {"allowed": 1, "denied": 0}
