"""The Rego policies: `opa check --strict` and `opa test` pass, and every policy's sample manifests are judged as their
names say by `jupyternetes policy test`, the tool security officers use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes.dev import toolchain
from tests.seeds import REPO_ROOT

POLICIES = REPO_ROOT / "policies"
POLICY_FOLDERS = sorted(p.name for p in POLICIES.iterdir() if (p / "policy.rego").exists())


def _opa(*args: str) -> subprocess.CompletedProcess[str]:
    opa = toolchain.ensure(["opa"], log=False)["opa"]
    return subprocess.run([str(opa), *args], capture_output=True, text=True, timeout=120, check=False)


def test_every_policy_folder_has_tests_and_both_samples() -> None:
    assert POLICY_FOLDERS == ["credentials", "entitlements", "identity", "images", "kinds", "labels", "network",
                              "resources", "scheduling", "sessions", "storage", "variables"]
    for name in POLICY_FOLDERS:
        folder = POLICIES / name
        assert (folder / "policy_test.rego").exists(), name
        assert (folder / "samples" / "allowed.yaml").exists(), name
        assert (folder / "samples" / "disallowed.yaml").exists(), name


def test_opa_check_strict() -> None:
    done = _opa("check", "--strict", "--ignore=samples", str(POLICIES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_opa_test() -> None:
    done = _opa("test", "--ignore=samples", "-v", str(POLICIES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    # Every test rule in every *_test.rego ran and passed (not merely some number of them).
    declared = {match for path in POLICIES.rglob("*_test.rego")
                for match in re.findall(r"^(test_\w+)", path.read_text(), re.MULTILINE)}
    passed = set(re.findall(r"\.(test_\w+): PASS", done.stdout))
    assert len(declared) >= 25 and declared == passed, declared ^ passed


def _policy_test(*files: Path, policies: Path = POLICIES) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policies),
                           *map(str, files)], capture_output=True, text=True, timeout=120, check=False)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    return {**base, **{k: _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in over.items()}}


def _sample_policies(name: str, tmp_path: Path) -> Path:
    """The shipped policies, with the folder's samples/data.yaml merged over the shipped data when there is one (for
    the policies that do nothing until an officer sets them up: entitlements and session limits)."""
    overlay = POLICIES / name / "samples" / "data.yaml"
    if not overlay.exists():
        return POLICIES
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    data = _merge(yaml.safe_load((POLICIES / "data.yaml").read_text()), yaml.safe_load(overlay.read_text()))
    (target / "data.yaml").write_text(yaml.safe_dump(data))
    return target


@pytest.mark.parametrize("name", POLICY_FOLDERS)
def test_allowed_sample_is_allowed(name: str, tmp_path: Path) -> None:
    done = _policy_test(POLICIES / name / "samples" / "allowed.yaml", policies=_sample_policies(name, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DENY" not in done.stdout


@pytest.mark.parametrize("name", POLICY_FOLDERS)
def test_disallowed_sample_is_denied_by_that_policy(name: str, tmp_path: Path) -> None:
    done = _policy_test(POLICIES / name / "samples" / "disallowed.yaml", policies=_sample_policies(name, tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DENY" in done.stdout
    assert f"(rule {name})" in done.stdout


def test_the_seed_examples_pass_the_default_policies(tmp_path: Path) -> None:
    done = _policy_test(REPO_ROOT / "examples" / "00-seed" / "template.yaml",
                        REPO_ROOT / "examples" / "00-seed" / "instance.yaml")
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == "ALLOW JupyterNotebookTemplate kadense/default-template"
    assert "holds a secret in plain text" in done.stdout


def test_bad_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    missing = _policy_test(tmp_path / "nope.yaml")
    assert missing.returncode == 2 and missing.stderr.strip().endswith("nope.yaml does not exist")
    wrong = tmp_path / "deployment.yaml"
    wrong.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
    done = _policy_test(wrong)
    assert done.returncode == 2 and "only JupyterNotebookTemplates" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
