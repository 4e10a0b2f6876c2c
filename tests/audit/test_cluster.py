"""The audit on the session's real API server: a security officer tightens a policy (takes an image repository off
the allowlist) and `jupyternetes audit --policies <tightened>` names exactly the templates, instances and running
pods that now fail; the webhook's periodic audit, started with the tightened policies as after their rollout, writes
one PolicyViolation Event per failing object and the metrics; a refused request is one JSON decision record."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from jupyternetes import kube, sealing
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev.cluster import ADMIN, OFFICER, LocalCluster
from tests.audit.objects import RETIRED_IMAGE, RETIRED_REPOSITORY, instance, template
from tests.operator.conftest import wait_condition
from tests.support import processes
from tests.support.stacks import Stack, stop, webhook_stack

pytestmark = pytest.mark.cluster

#: The hub's API token for one server: opened by the operator into the instance's Secret, never to be logged.
SEALED_VALUE = "hub-token-0123456789abcdef-never-logged"


def _policies(target: Path, extra_repositories: list[str]) -> Path:
    shutil.copytree(components.policy_dir(), target)
    data = yaml.safe_load((target / "data.yaml").read_text())
    data["jupyternetes"]["config"]["images"]["allowed"] += extra_repositories
    (target / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`base`: what the cluster runs (the shipped policies, plus a repository that is being retired); `tight`: the
    officer's copy with that repository taken off the allowlist (the shipped policies as they are)."""
    root = tmp_path_factory.mktemp("audit-policies")
    return {"base": _policies(root / "base", [RETIRED_REPOSITORY]), "tight": _policies(root / "tight", [])}


@pytest.fixture(scope="module")
def stack(cluster: LocalCluster, policies: dict[str, Path]) -> Iterator[Stack]:
    with webhook_stack(cluster, policies["base"], audit_interval_seconds=2) as running:
        yield running


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, stack: Stack, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[processes.Component]:
    with processes.operator(cluster, Path(tmp_path_factory.mktemp("audit-operator")),
                            sealing_key_file=str(components.sealing_keys(cluster)[0])) as component:
        yield component


@pytest.fixture(scope="module")
def stored(cluster: LocalCluster, stack: Stack, operator: processes.Component, admin: kube.Kube,
           hub: kube.Kube) -> Iterator[dict[str, Any]]:
    """In a namespace of their own: a template on the retired repository and one on an allowed one, an instance of
    each (created by the hub, admitted by the webhook) and their running pods (made by the operator)."""
    namespace = f"audit-{cluster_mod.free_port()}"
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    from jupyternetes.dev import rbac

    for obj in rbac.hub_objects(namespace, cluster.config.hub_namespace):
        admin.create(obj)
    admin.create(template("retired", namespace, RETIRED_IMAGE))
    admin.create(template("current", namespace))
    hub.create(instance("jupyter-old", namespace, "retired"))
    # The hub's API token, sealed to the operator's key as the spawner does: the operator opens it into a Secret.
    new = instance("jupyter-new", namespace, "current")
    bound = sealing.binding(namespace=namespace, instance="jupyter-new", template_name="current",
                            template_namespace=namespace, variables=new["spec"]["variables"])
    public = sealing.load_public_key(components.sealing_keys(cluster)[1].read_bytes())
    new["spec"]["sealedVariables"] = sealing.seal_instance(public, {"jupyterhub.api_token": SEALED_VALUE},
                                                           bound_to=bound)
    hub.create(new)
    pods = {name: wait_condition(admin, namespace, name, "Ready")["status"]["pods"]["notebook"]["resourceName"]
            for name in ("jupyter-old", "jupyter-new")}
    yield {"namespace": namespace, "pods": pods}
    admin.delete(kube.NAMESPACE, namespace)


def _audit(cluster: LocalCluster, policies: Path, *args: str, identity: str = ADMIN
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "audit", "--kubeconfig",
                           str(cluster.kubeconfig(identity)), "--policies", str(policies), *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _failing(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["kind"], r["name"]) for r in report["results"] if r["result"] == "fail"}


class TestTheCommand:
    def test_with_the_policies_in_force_nothing_fails(self, cluster: LocalCluster, policies: dict[str, Path],
                                                      stored: dict[str, Any]) -> None:
        done = _audit(cluster, policies["base"], "--namespace", stored["namespace"], "--output", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["summary"] == {"pass": 6, "warn": 0, "fail": 0, "error": 0}

    def test_a_tightened_policy_fails_exactly_the_objects_on_the_retired_repository(
            self, cluster: LocalCluster, policies: dict[str, Path], stored: dict[str, Any]) -> None:
        done = _audit(cluster, policies["tight"], "--namespace", stored["namespace"], "-o", "json")
        assert done.returncode == 1, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert _failing(report) == {("JupyterNotebookTemplate", "retired"), ("JupyterNotebookInstance", "jupyter-old"),
                                    ("Pod", stored["pods"]["jupyter-old"])}
        for result in report["results"]:
            if result["result"] == "fail":
                assert {v["rule"] for v in result["violations"]} == {"images"}, result
                assert all(v["mode"] == "enforce" and RETIRED_IMAGE in v["message"] for v in result["violations"])
        assert report["policies"] == str(policies["tight"])

    def test_the_table_names_each_failing_object_and_its_rule(self, cluster: LocalCluster,
                                                              policies: dict[str, Path], stored: dict[str, Any]) -> None:
        done = _audit(cluster, policies["tight"], "-n", stored["namespace"])
        assert done.returncode == 1, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split() == ["KIND", "NAMESPACE", "NAME", "RESULT", "RULES"]
        rows = {tuple(line.split()) for line in lines if not line.startswith(" ")}
        assert ("template", stored["namespace"], "retired", "FAIL", "images") in rows
        assert ("instance", stored["namespace"], "jupyter-old", "FAIL", "images") in rows
        assert ("pod", stored["namespace"], stored["pods"]["jupyter-old"], "FAIL", "images") in rows
        assert "current" not in done.stdout and "jupyter-new" not in done.stdout
        assert lines[-1].endswith("3 pass, 0 warn, 3 fail, 0 error")

    def test_an_identity_that_may_not_list_pods_is_told_so_and_can_leave_them_out(
            self, cluster: LocalCluster, policies: dict[str, Path], stored: dict[str, Any]) -> None:
        refused = _audit(cluster, policies["tight"], "-n", stored["namespace"], identity=OFFICER)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "may not list pods" in refused.stderr and "--kinds" in refused.stderr
        done = _audit(cluster, policies["tight"], "-n", stored["namespace"], "--kinds", "templates,instances",
                      "-o", "json", identity=OFFICER)
        assert done.returncode == 1, done.stdout + done.stderr
        assert _failing(json.loads(done.stdout)) == {("JupyterNotebookTemplate", "retired"),
                                                     ("JupyterNotebookInstance", "jupyter-old")}

    def test_an_unusable_kubeconfig_or_policy_directory_exits_2(self, cluster: LocalCluster, tmp_path: Path,
                                                                policies: dict[str, Path]) -> None:
        missing = subprocess.run([sys.executable, "-m", "jupyternetes", "audit", "--kubeconfig",
                                  str(tmp_path / "nope"), "--policies", str(policies["tight"])],
                                 capture_output=True, text=True, timeout=120, check=False)
        assert missing.returncode == 2 and "kubeconfig" in missing.stderr, missing.stderr
        no_policies = _audit(cluster, tmp_path)
        assert no_policies.returncode == 2 and "has no data.yaml" in no_policies.stderr


def _events(admin: kube.Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    items = admin.list(kube.EVENT, namespace, fieldSelector=f"involvedObject.name={name}")["items"]
    return [e for e in items if e.get("reason") == "PolicyViolation"]


def _metrics(url: str) -> str:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    return httpx.get(f"{url}/metrics", verify=insecure, timeout=10).text


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            found = dict(part.split("=", 1) for part in line[len(name):].split(" ")[0].strip("{}").split(",") if part)
            if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


class TestThePeriodicAudit:
    def test_after_the_rollout_of_a_tightened_policy_each_failing_object_gets_one_event_and_the_metrics_count_them(
            self, cluster: LocalCluster, policies: dict[str, Path], stored: dict[str, Any], admin: kube.Kube) -> None:
        """Two replicas, as the chart runs, with the tightened policies and a short interval, beside (not replacing)
        the registered webhook: each object's Event is written once, however many audits and replicas."""
        namespace = stored["namespace"]
        opa, opa_url = components.start_opa(cluster, policies["tight"], name="opa-audit")
        replicas = []
        try:
            for index in range(2):
                replicas.append(components.start_webhook(cluster, opa_url, policies["tight"], name=f"audit-{index}",
                                                         register=False, audit_interval_seconds=1))
            url = replicas[0].url

            def audited_three_times() -> bool:
                return all((_sample(_metrics(r.url), "jupyternetes_audit_runs_total", outcome="ok") or 0) >= 3
                           for r in replicas)

            cluster_mod.wait_for("three audits by each replica", audited_three_times, timeout=120, interval=0.5)
            for name in ("retired", "jupyter-old"):
                (event,) = _events(admin, namespace, name)
                assert event["type"] == "Warning" and event["source"]["component"] == "jupyternetes-webhook"
                assert "rules: images" in event["message"] and RETIRED_IMAGE in event["message"]
            assert _events(admin, namespace, "current") == [] and _events(admin, namespace, "jupyter-new") == []
            text = _metrics(url)
            for kind in ("template", "instance"):
                assert _sample(text, "jupyternetes_audit_violations", kind=kind, namespace=namespace,
                               policy="images", mode="enforce") == 1.0, text
            assert (_sample(text, "jupyternetes_audit_last_run_timestamp_seconds") or 0) > 0
            assert (_sample(text, "jupyternetes_audit_objects", kind="template", result="fail") or 0) >= 1
        finally:
            stop(cluster, *(r.process for r in replicas), opa)

    def test_with_the_policies_in_force_the_periodic_audit_counts_no_violation(
            self, stack: Stack, stored: dict[str, Any]) -> None:
        """The registered webhook (the base policies, a 2 s interval): two audits after the objects were stored, and
        nothing of ours violates anything."""
        before = _sample(_metrics(stack.webhook.url), "jupyternetes_audit_runs_total", outcome="ok") or 0
        cluster_mod.wait_for("two more audits", lambda: (_sample(
            _metrics(stack.webhook.url), "jupyternetes_audit_runs_total", outcome="ok") or 0) >= before + 2,
            timeout=60, interval=0.5)
        text = _metrics(stack.webhook.url)
        assert not [line for line in text.splitlines() if line.startswith("jupyternetes_audit_violations{")
                    and f'namespace="{stored["namespace"]}"' in line], text
        assert (_sample(text, "jupyternetes_audit_objects", kind="template", result="pass") or 0) >= 2


def _records(path: Path, type_: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(errors="replace").splitlines()
            if line.startswith("{") and f'"type":"{type_}"' in line]


class TestDecisionRecords:
    def test_a_refused_instance_is_one_json_decision_record_of_who_what_and_why(
            self, cluster: LocalCluster, stack: Stack, stored: dict[str, Any], hub: kube.Kube) -> None:
        namespace = stored["namespace"]
        with pytest.raises(kube.Forbidden):
            hub.create(instance("jupyter-nowhere", namespace, "missing"))
        log = stack.webhook.process.log_path

        def ours() -> list[dict[str, Any]]:
            return [r for r in _records(log, "admission-decision")
                    if r.get("name") == "jupyter-nowhere" and r.get("namespace") == namespace]

        cluster_mod.wait_for("the decision record", lambda: bool(ours()), timeout=30)
        (record,) = ours()
        assert {k: record[k] for k in ("webhook", "operation", "kind", "verdict", "code", "template", "hub_user")} == {
            "webhook": "validating", "operation": "CREATE", "kind": "JupyterNotebookInstance", "verdict": "deny",
            "code": 403, "template": {"namespace": namespace, "name": "missing"},
            "hub_user": {"name": "ada", "groups": ["researchers"]}}
        assert record["user"]["username"] == components.hub_user(cluster)
        assert "system:serviceaccounts" in record["user"]["groups"]
        assert [r["rule"] for r in record["rules"]] == ["template-missing"]
        assert record["request_uid"] and record["timestamp"].endswith("Z")

    def test_the_opened_sealed_value_reaches_neither_the_webhooks_nor_the_operators_log(
            self, stack: Stack, operator: processes.Component, stored: dict[str, Any]) -> None:
        namespace = stored["namespace"]
        webhook_log = stack.webhook.process.log_path
        secrets = [r for r in _records(webhook_log, "admission-decision")
                   if r.get("kind") == "Secret" and r.get("namespace") == namespace]
        assert [(r["operation"], r["verdict"], r["instance"]["name"]) for r in secrets] == [
            ("CREATE", "allow", "jupyter-new")]
        made = [r for r in _records(operator.log_path, "provisioning-action")
                if r["kind"] == "Secret" and r["namespace"] == namespace]
        assert [(r["outcome"], r["instance"]["name"]) for r in made] == [("created", "jupyter-new")]
        for path in (webhook_log, operator.log_path):
            text = path.read_text(errors="replace")
            assert SEALED_VALUE not in text and base64.b64encode(SEALED_VALUE.encode()).decode() not in text, path

    def test_the_operators_creates_are_provisioning_records(self, operator: processes.Component,
                                                            stored: dict[str, Any]) -> None:
        records = _records(operator.log_path, "provisioning-action")
        ours = [r for r in records if r["namespace"] == stored["namespace"] and r["outcome"] == "created"]
        assert {(r["kind"], r["instance"]["name"]) for r in ours} >= {
            ("Pod", "jupyter-old"), ("Pod", "jupyter-new")}
        pod = next(r for r in ours if r["kind"] == "Pod" and r["instance"]["name"] == "jupyter-old")
        assert pod["images"] == [RETIRED_IMAGE] and pod["hub_user"] == {"name": "ada", "groups": ["researchers"]}
        assert pod["template"] == {"namespace": stored["namespace"], "name": "retired"} and pod["uid"]
