"""Failing closed, and staying up: the webhook stopped, OPA stopped, certificates rotated under load; and the operator
provisioning the seed's instance through the webhook."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from typing import Any

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, rbac
from jupyternetes.dev.cluster import HUB, OFFICER, LocalCluster
from tests import seeds
from tests.support.stacks import stop, webhook_stack

pytestmark = pytest.mark.cluster


def _template(name: str) -> dict[str, Any]:
    template = seeds.seed_template()
    template["metadata"]["name"] = name
    return template


def test_with_the_webhook_stopped_creation_is_refused_and_nothing_is_created(cluster: LocalCluster,
                                                                            admin: kube.Kube) -> None:
    with webhook_stack(cluster) as stack:
        stop(cluster, stack.webhook.process)
        done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=yaml.safe_dump(_template("no-webhook")))
        assert done.returncode != 0
        assert 'failed calling webhook "templates.mutate.jupyternetes.kadense.io"' in done.stderr
        assert not admin.exists(kube.TEMPLATE, "no-webhook", "kadense")
        instance = seeds.seed_instance()
        instance["metadata"]["name"] = "no-webhook"
        done = cluster.kubectl("apply", "-f", "-", identity=HUB, input=yaml.safe_dump(instance))
        assert done.returncode != 0 and "failed calling webhook" in done.stderr


def test_with_opa_stopped_the_webhook_denies_and_says_why(cluster: LocalCluster, admin: kube.Kube) -> None:
    with webhook_stack(cluster, opa_timeout_seconds=1) as stack:
        stop(cluster, stack.opa)
        done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=yaml.safe_dump(_template("no-opa")))
        assert done.returncode != 0
        assert f"the policy engine (OPA at {stack.opa_url}) is unreachable" in done.stderr
        assert "nothing is admitted without a policy decision" in done.stderr
        assert not admin.exists(kube.TEMPLATE, "no-opa", "kadense")


def test_certificate_rotation_while_requests_flow_loses_none(cluster: LocalCluster, admin: kube.Kube) -> None:
    # Certificates that live 35 seconds and are rotated 17 seconds before they expire: two rotations in 45 seconds.
    settings = {"certificate_days": 35 / 86400, "rotate_before_days": 17 / 86400, "check_interval_seconds": 0.5}
    outcomes: list[str] = []
    serving: list[str] = []
    stop_flag = threading.Event()

    def traffic() -> None:
        with cluster.kube(OFFICER) as officer:
            while not stop_flag.is_set():
                try:
                    officer.create(_template("rotation"), dryRun="All")
                    outcomes.append("ok")
                except kube.ApiError as error:
                    outcomes.append(f"{error.status} {error.message}")

    # Start from an empty Secret, so the first certificate is already a short-lived one.
    with contextlib.suppress(kube.NotFound):
        admin.delete(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, cluster.config.system_namespace)
    with webhook_stack(cluster, **settings):
        worker = threading.Thread(target=traffic)
        worker.start()
        deadline = time.monotonic() + 45
        try:
            while time.monotonic() < deadline:
                secret = admin.get(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, cluster.config.system_namespace)
                certificate = base64.b64decode(secret["data"]["tls.crt"]).decode()
                if not serving or serving[-1] != certificate:
                    serving.append(certificate)
                time.sleep(0.5)
        finally:
            stop_flag.set()
            worker.join(30)
    failures = [o for o in outcomes if o != "ok"]
    assert len(serving) >= 3, f"expected at least two rotations, saw {len(serving) - 1}"
    assert len(outcomes) > 100
    assert failures == [], failures[:5]


def test_the_operator_provisions_the_seed_instance_through_the_webhook(cluster: LocalCluster,
                                                                      admin: kube.Kube) -> None:
    template_yaml, instance_yaml = seeds.seed_yaml_blocks()
    name = yaml.safe_load(instance_yaml)["metadata"]["name"]
    with webhook_stack(cluster):
        operator = components.start_operator(cluster, name="operator-with-webhook")
        try:
            # Stored again through the webhook, so it carries the secure defaults (whatever earlier tests left).
            cluster.kubectl("delete", "jnt", "default-template", "-n", "kadense", "--ignore-not-found")
            assert cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=template_yaml).returncode == 0
            with contextlib.suppress(kube.NotFound):
                admin.delete(kube.INSTANCE, name, "default")
            cluster_mod.wait_for("the old instance to go", lambda: not admin.exists(kube.INSTANCE, name, "default"), timeout=30)
            done = cluster.kubectl("apply", "-f", "-", identity=HUB, input=instance_yaml)
            assert done.returncode == 0, done.stderr

            pod: dict[str, Any] = {}

            def ready() -> bool:
                # Ready, and its pod readable. The pod of the instance deleted above (same name) may still be going
                # away through garbage collection when the status is first read.
                nonlocal pod
                status = admin.get(kube.INSTANCE, name, "default").get("status", {})
                if not any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
                    return False
                pod = admin.get(kube.POD, status["pods"]["notebook"]["resourceName"], "default")
                return not pod["metadata"].get("deletionTimestamp")

            cluster_mod.wait_for("the seed instance to be Ready with its pod", ready, timeout=60)
            assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
            assert pod["spec"]["automountServiceAccountToken"] is False
            assert not any(v["name"].startswith("kube-api-access") for v in pod["spec"]["volumes"])
        finally:
            stop(cluster, operator)
