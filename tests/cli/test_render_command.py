"""`jupyternetes render`: prints the manifests, and turns bad input into one line on stderr with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jupyternetes import cli
from tests.seeds import REPO_ROOT

SEED_TEMPLATE = REPO_ROOT / "examples" / "00-seed" / "template.yaml"
SEED_INSTANCE = REPO_ROOT / "examples" / "00-seed" / "instance.yaml"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_the_seed_pvc_and_pod_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "render", "--template", str(SEED_TEMPLATE), "--instance", str(SEED_INSTANCE))
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == ["PersistentVolumeClaim", "Pod"]
    assert documents[1]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == (
        documents[0]["metadata"]["name"]
    )


def _bad(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _bad(capsys, "render", "--template", str(tmp_path / "nope.yaml"), "--instance", str(SEED_INSTANCE))
    assert "nope.yaml does not exist" in line


def test_invalid_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n  pods: {")
    line = _bad(capsys, "render", "--template", str(broken), "--instance", str(SEED_INSTANCE))
    assert "broken.yaml: not valid YAML" in line


def test_wrong_kind(capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad(capsys, "render", "--template", str(SEED_INSTANCE), "--instance", str(SEED_INSTANCE))
    assert "kind: expected 'JupyterNotebookTemplate', got 'JupyterNotebookInstance'" in line


def test_unknown_variable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    instance = yaml.safe_load(SEED_INSTANCE.read_text())
    del instance["spec"]["variables"]["jupyterhub.user.name"]
    path = tmp_path / "instance.yaml"
    path.write_text(yaml.safe_dump(instance))
    line = _bad(capsys, "render", "--template", str(SEED_TEMPLATE), "--instance", str(path))
    assert "unknown variable 'jupyterhub.user.name'" in line
    assert "spec.pods[0].spec.containers[0].env[1].value" in line


def test_a_document_that_is_not_an_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    line = _bad(capsys, "render", "--template", str(path), "--instance", str(SEED_INSTANCE))
    assert "is a list, not a Kubernetes object" in line


def test_several_documents_where_one_is_expected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(SEED_TEMPLATE.read_text() + "\n---\n" + SEED_TEMPLATE.read_text())
    line = _bad(capsys, "render", "--template", str(path), "--instance", str(SEED_INSTANCE))
    assert "expected exactly one template document, found 2" in line
