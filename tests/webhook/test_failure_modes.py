"""Failing closed, and staying up: the webhook stopped, OPA stopped, certificates rotated under load; and the operator
provisioning the seed's instance through the webhook."""

from __future__ import annotations

import base64
import datetime
import contextlib
import signal
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, rbac
from jupyternetes.dev.cluster import HUB, OFFICER, LocalCluster
from tests import seeds
from tests.operator.conftest import make_instance, make_template, reasons, wait_condition
from tests.support import processes
from tests.support.balancer import Balancer
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
        assert done.returncode != 0
        assert 'failed calling webhook "instances.validate.jupyternetes.kadense.io"' in done.stderr
        assert not admin.exists(kube.INSTANCE, "no-webhook", instance["metadata"].get("namespace", "default"))


def test_with_opa_stopped_the_webhook_denies_and_says_why(cluster: LocalCluster, admin: kube.Kube) -> None:
    with webhook_stack(cluster, opa_timeout_seconds=1) as stack:
        stop(cluster, stack.opa)
        done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=yaml.safe_dump(_template("no-opa")))
        assert done.returncode != 0
        assert f"the policy engine (OPA at {stack.opa_url}) is unreachable" in done.stderr
        assert "Error from server (ServiceUnavailable)" in done.stderr  # "not now", which a client may retry
        assert "nothing is admitted without a policy decision" in done.stderr
        assert not admin.exists(kube.TEMPLATE, "no-opa", "kadense")


def _served_certificate(port: int) -> str | None:
    """The certificate a replica actually serves over TLS (PEM), or None if it did not answer."""
    try:
        return ssl.get_server_certificate(("127.0.0.1", port), timeout=2)
    except OSError:
        return None


def test_two_replicas_rotate_their_shared_certificate_under_operator_load_and_lose_no_request(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chart's default: two webhook replicas behind one Service (here a TCP balancer on loopback), one Secret.
    Certificates live 35 seconds and are rotated 17 seconds before they expire: at least two rotations in 45
    seconds, while the operator creates PVCs and pods for a stream of instances and an officer sends dry runs.
    The serving key is on disk only while a TLS context loads it: nothing is left in the replicas' temporary
    directory while they serve, or after they are killed."""
    webhook_tmp = tmp_path / "webhook-tmp"
    webhook_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(webhook_tmp))
    settings = {"certificate_days": 35 / 86400, "rotate_before_days": 17 / 86400, "check_interval_seconds": 0.5}
    outcomes: list[str] = []
    served: dict[int, list[str]] = {}
    stop_flag = threading.Event()
    names: list[str] = []

    def officer_traffic() -> None:
        with cluster.kube(OFFICER) as officer:
            while not stop_flag.is_set():
                try:
                    officer.create(_template("rotation"), dryRun="All")
                    outcomes.append("ok")
                except kube.ApiError as error:
                    outcomes.append(f"officer: {error.status} {error.message}")

    def hub_traffic() -> None:
        while not stop_flag.wait(0.5):
            name = f"rot-{len(names):03d}"
            try:
                hub.create(make_instance(namespace, name))
                names.append(name)
                outcomes.append("ok")
            except kube.ApiError as error:
                outcomes.append(f"hub: {error.status} {error.message}")

    with contextlib.suppress(kube.NotFound):
        admin.delete(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, cluster.config.system_namespace)
    opa, opa_url = components.start_opa(cluster)
    ports = [cluster_mod.free_port(), cluster_mod.free_port()]
    replicas: list[components.Webhook] = []
    metrics_port = processes.free_port()
    try:
        with Balancer(ports) as balancer:
            components.register_webhook(admin, cluster, f"https://127.0.0.1:{balancer.port}")
            for i, port in enumerate(ports):
                replicas.append(components.start_webhook(cluster, opa_url, name=f"webhook-{i}", port=port,
                                                         register=False, manage_configurations=True, **settings))
            cluster_mod.wait_for("the CA in the configurations", lambda: all(
                w.get("clientConfig", {}).get("caBundle") for rt in (components.VWC, components.MWC)
                for w in admin.get(rt, rbac.WEBHOOK_CONFIGURATION)["webhooks"]), timeout=30)
            admin.create(make_template(namespace))
            with processes.operator(cluster, tmp_path, identity="rotation", metrics_port=metrics_port):
                workers = [threading.Thread(target=officer_traffic), threading.Thread(target=hub_traffic)]
                for worker in workers:
                    worker.start()
                deadline = time.monotonic() + 45
                try:
                    while time.monotonic() < deadline:
                        for port in ports:
                            pem = _served_certificate(port)
                            history = served.setdefault(port, [])
                            if pem and (not history or history[-1] != pem):
                                history.append(pem)
                        time.sleep(0.3)
                finally:
                    stop_flag.set()
                    for worker in workers:
                        worker.join(30)
                for name in names:
                    wait_condition(admin, namespace, name, "Ready", timeout=60)

                def in_the_secret() -> str:
                    data = admin.get(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, cluster.config.system_namespace)["data"]
                    return base64.b64decode(data["tls.crt"]).decode()

                # Every replica ends up serving what the Secret holds (read over TLS, not from the Secret).
                cluster_mod.wait_for("both replicas to serve the Secret's certificate", lambda: all(
                    _served_certificate(port) == in_the_secret() for port in ports), timeout=20, interval=0.3)
                api_failures = processes.metric(metrics_port, "jupyternetes_operator_api_requests_total",
                                                status="500")
                left_while_serving = sorted(str(p) for p in webhook_tmp.rglob("*"))
                created = processes.metric(metrics_port, "jupyternetes_operator_api_requests_total", method="POST",
                                           status="201")
            connections = dict(balancer.connections)
    finally:
        for replica in replicas:
            replica.process.signal(signal.SIGKILL)
        stop(cluster, *(r.process for r in replicas), opa)
        components.unregister_webhook(admin)
    assert left_while_serving == []
    assert sorted(str(p) for p in webhook_tmp.rglob("*")) == [], "a killed replica left its key behind"
    failures = [o for o in outcomes if o != "ok"]
    unavailable = [n for n in names if "AdmissionUnavailable" in reasons(admin, namespace, n)]
    for port in ports:
        assert len(served[port]) >= 3, f"replica on {port} served {len(served[port])} certificates; expected 3"
    assert len(names) >= 40 and len(outcomes) > 100
    assert all(connections.get(port, 0) > 0 for port in ports), connections
    assert failures == [], failures[:5]
    assert unavailable == [] and api_failures == 0
    print(f"\nrotation: {min(len(h) for h in served.values()) - 1} rotations seen on both replicas; "
          f"{len(outcomes)} hub and officer requests and {created:.0f} objects and Events created by the operator, "
          f"{len(failures) + int(api_failures)} failed; connections per replica {connections}")


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


def test_a_certificate_that_would_expire_before_the_first_check_is_replaced_before_serving(
    cluster: LocalCluster, admin: kube.Kube
) -> None:
    """Found when a webhook started after another had left a certificate with seconds to live (the rotation test's):
    with the default check every 60 s it served that certificate until it expired, failing every review. A
    certificate within `rotate_before_days` of expiry is now replaced at start, keeping its CA in the bundle."""
    from jupyternetes.webhook import certs
    from jupyternetes.webhook.settings import WebhookSettings

    settings = WebhookSettings(namespace=cluster.config.system_namespace)
    dying = certs.new_material(settings, None, datetime.timedelta(seconds=20))
    namespace = cluster.config.system_namespace
    try:
        secret = admin.get(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, namespace)
    except kube.NotFound:  # another test deleted it
        secret = admin.create({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": rbac.WEBHOOK_TLS_SECRET, "namespace": namespace}})
    secret["data"] = dying.to_secret_data()
    admin.replace(kube.SECRET, secret)
    with webhook_stack(cluster) as stack:
        served = ssl.get_server_certificate(("127.0.0.1", stack.webhook.port))
        stored = certs.Material.from_secret_data(
            admin.get(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, cluster.config.system_namespace)["data"])
        assert stored is not None
        assert stored.serving.not_after - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=300)
        assert served.encode().strip() == stored.serving.cert_pem.strip()
        assert dying.ca.cert_pem in stored.bundle  # servers that trusted the old CA still do until it goes
        made = admin.create(make_template("default", name=f"fresh-{time.monotonic_ns() % 100000}"), dryRun="All")
        assert made["metadata"]["name"].startswith("fresh-")


def test_a_watch_the_api_server_refuses_is_logged_counted_and_named_in_readyz(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Reported: a watch that failed (403 after an RBAC change) was retried in silence. Here the webhook runs as the
    hub's identity, which may not list templates or instances in every namespace."""
    import os
    import sys

    port = cluster_mod.free_port()
    env = {**os.environ, **{f"JUPYTERNETES_WEBHOOK_{k.upper()}": str(v) for k, v in {
        "host": "127.0.0.1", "port": port, "insecure_http": True, "development": True, "policy_engine": "none",
        "manage_configurations": False, "watch_failure_seconds": 1, "policy_dir": components.policy_dir()}.items()}}
    process = cluster.spawn("webhook-narrow", [sys.executable, "-m", "jupyternetes", "webhook", "--kubeconfig",
                                               str(cluster.kubeconfig(HUB))], env=env)

    try:
        cluster_mod.wait_for("readyz to name the failing watch",
                             lambda: "has failed for" in processes.http_get(port, "/readyz")[1],
                             timeout=60, process=process)
        code, body = processes.http_get(port, "/readyz")
        assert code == 503
        assert "the watch of jupyternotebookinstances has failed for" in body and "403" in body, body
        assert processes.metric(port, "jupyternetes_webhook_watch_failures_total",
                                resource="jupyternotebookinstances") >= 1
        log = process.log_path.read_text()
        assert "the watch of jupyternotebookinstances failed" in log and "403" in log
        assert log.count("the watch of jupyternotebookinstances failed") == 1  # logged once, not every retry
    finally:
        stop(cluster, process)
