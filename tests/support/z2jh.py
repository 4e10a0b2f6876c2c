"""A Zero to JupyterHub install, as its chart creates it with its default values plus `docs/z2jh-values.yaml`, for a
cluster without a registry or the chart: the hub and the proxy Deployments with z2jh's labels, ports, security
contexts and arguments, their Services, and the three NetworkPolicies z2jh creates by default (hub, proxy,
singleuser). The objects are written here from what z2jh 4's chart renders (checked against its templates); only
what this node lacks is changed, and said where it is:

- There is no cluster DNS, so the hub and the proxy find each other through the Services' addresses, which the kubelet
  gives every pod as `<NAME>_SERVICE_HOST` variables, instead of the names `hub` and `proxy-api`.
- z2jh's hub image carries a `jupyterhub_config.py` that applies `hub.config` from the values; the ConfigMap here
  holds a short stand-in that does the same for what the Jupyternetes guide sets (`HUB_CONFIG`).
"""

from __future__ import annotations

import json
from typing import Any, Final

PRIVATE: Final = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
METADATA: Final = "169.254.169.254/32"

#: The hub's configuration, mounted as z2jh mounts its own: it reads the chart's values from the hub Secret and sets
#: every `hub.config.<Class>.<trait>`, as z2jh's does, after z2jh's own defaults for the hub and the proxy.
HUB_CONFIG: Final = '''
import json
import os

values = json.load(open("/usr/local/etc/jupyterhub/secret/values.yaml"))
c.JupyterHub.hub_bind_url = "http://:8081"
c.JupyterHub.hub_connect_url = f"http://{os.environ['HUB_SERVICE_HOST']}:{os.environ['HUB_SERVICE_PORT']}"
c.ConfigurableHTTPProxy.api_url = (f"http://{os.environ['PROXY_API_SERVICE_HOST']}:"
                                   f"{os.environ['PROXY_API_SERVICE_PORT']}")
c.ConfigurableHTTPProxy.should_start = False
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
for section, traits in values["hub"]["config"].items():
    for name, value in traits.items():
        setattr(getattr(c, section), name, value)
'''


def _labels(release: str, component: str) -> dict[str, str]:
    return {"component": component, "app": "jupyterhub", "release": release}


def _egress_defaults(private: bool) -> list[dict[str, Any]]:
    """z2jh's `egressAllowRules` as its defaults render them: DNS anywhere, the internet, and (for the hub and the
    proxy, not for notebooks) private addresses and the cloud metadata server."""
    rules: list[dict[str, Any]] = [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
         "to": [{"ipBlock": {"cidr": METADATA}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
                *({"ipBlock": {"cidr": cidr}} for cidr in PRIVATE)]},
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [*PRIVATE, METADATA]}}]},
    ]
    if private:
        rules += [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE]},
                  {"to": [{"ipBlock": {"cidr": METADATA}}]}]
    return rules


def network_policies(release: str, namespace: str) -> list[dict[str, Any]]:
    """The hub, proxy and singleuser NetworkPolicies that z2jh creates with its default values."""
    def policy(name: str, component: str, ingress: list[dict[str, Any]],
               egress: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": namespace, "labels": _labels(release, name)},
                "spec": {"podSelector": {"matchLabels": _labels(release, component)},
                         "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress}}

    def pods(component: str) -> list[dict[str, Any]]:
        return [{"podSelector": {"matchLabels": _labels(release, component)}}]

    def labelled(label: str) -> list[dict[str, Any]]:
        return [{"podSelector": {"matchLabels": {f"hub.jupyter.org/{label}": "true"}}}]

    return [
        policy("hub", "hub",
               ingress=[{"ports": [{"port": "http"}], "from": labelled("network-access-hub")}],
               egress=[{"to": pods("proxy"), "ports": [{"port": 8001}]},
                       {"to": pods("singleuser-server"), "ports": [{"port": 8888}]},
                       *_egress_defaults(private=True)]),
        policy("proxy", "proxy",
               ingress=[{"ports": [{"port": "http"}, {"port": "https"}]},
                        {"ports": [{"port": "http"}], "from": labelled("network-access-proxy-http")},
                        {"ports": [{"port": "api"}], "from": labelled("network-access-proxy-api")}],
               egress=[{"to": pods("hub"), "ports": [{"port": 8081}]},
                       {"to": pods("singleuser-server"), "ports": [{"port": 8888}]},
                       *_egress_defaults(private=True)]),
        policy("singleuser", "singleuser-server",
               ingress=[{"ports": [{"port": "notebook-port"}], "from": labelled("network-access-singleuser")}],
               egress=[{"to": pods("hub"), "ports": [{"port": 8081}]},
                       {"to": pods("proxy"), "ports": [{"port": 8000}]},
                       {"to": pods("autohttps"), "ports": [{"port": 8080}, {"port": 8443}]},
                       *_egress_defaults(private=False)]),
    ]


def _restricted_container(user: int) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsUser": user,
            "runAsGroup": user, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def objects(release: str, namespace: str, values: dict[str, Any], hub_image: str, proxy_image: str,
            proxy_token: str) -> list[dict[str, Any]]:
    """Everything z2jh's chart creates for the hub and the proxy with `values` (the guide's values merged into
    z2jh's defaults), in the order to create them: Services first, so that pods get their addresses."""
    hub_pod_labels = {**_labels(release, "hub"), "hub.jupyter.org/network-access-proxy-api": "true",
                      "hub.jupyter.org/network-access-proxy-http": "true",
                      "hub.jupyter.org/network-access-singleuser": "true"}
    proxy_pod_labels = {**_labels(release, "proxy"), "hub.jupyter.org/network-access-hub": "true",
                        "hub.jupyter.org/network-access-singleuser": "true"}
    token_env = {"name": "CONFIGPROXY_AUTH_TOKEN",
                 "valueFrom": {"secretKeyRef": {"name": "hub", "key": "hub.config.ConfigurableHTTPProxy.auth_token"}}}
    hub = values["hub"]

    def meta(name: str, component: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": _labels(release, component)}

    def service(name: str, component: str, selects: str, ports: list[dict[str, Any]],
                kind: str = "ClusterIP") -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, component),
                "spec": {"type": kind, "selector": _labels(release, selects), "ports": ports}}

    return [
        *network_policies(release, namespace),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("hub", "hub")},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("hub", "hub"), "type": "Opaque",
         "stringData": {"values.yaml": json.dumps(values), "hub.config.ConfigurableHTTPProxy.auth_token": proxy_token}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("hub", "hub"),
         "data": {"jupyterhub_config.py": HUB_CONFIG}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("hub-db-dir", "hub"),
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        service("hub", "hub", "hub", [{"name": "hub", "port": 8081, "targetPort": "http"}]),
        service("proxy-api", "proxy-api", "proxy", [{"port": 8001, "targetPort": "api"}]),
        service("proxy-public", "proxy-public", "proxy", [{"name": "http", "port": 80, "targetPort": "http"}],
                kind="LoadBalancer"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("hub", "hub"), "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _labels(release, "hub")},
            "template": {"metadata": {"labels": hub_pod_labels}, "spec": {
                "serviceAccountName": "hub",
                "securityContext": {"fsGroup": 1000, "runAsNonRoot": True,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "volumes": [{"name": "config", "configMap": {"name": "hub"}},
                            {"name": "secret", "secret": {"secretName": "hub"}},
                            *hub.get("extraVolumes", []),
                            {"name": "pvc", "persistentVolumeClaim": {"claimName": "hub-db-dir"}}],
                "containers": [{
                    "name": "hub", "image": hub_image,
                    "args": ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py",
                             "--upgrade-db"],
                    "volumeMounts": [
                        {"mountPath": "/usr/local/etc/jupyterhub/jupyterhub_config.py",
                         "subPath": "jupyterhub_config.py", "name": "config"},
                        {"mountPath": "/usr/local/etc/jupyterhub/secret/", "name": "secret"},
                        *hub.get("extraVolumeMounts", []),
                        {"mountPath": "/srv/jupyterhub", "name": "pvc"}],
                    "securityContext": _restricted_container(1000),
                    "env": [{"name": "PYTHONUNBUFFERED", "value": "1"},
                            {"name": "HELM_RELEASE_NAME", "value": release},
                            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            token_env],
                    "ports": [{"name": "http", "containerPort": 8081}],
                    "readinessProbe": {"periodSeconds": 2, "timeoutSeconds": 1,
                                       "httpGet": {"path": "/hub/health", "port": "http"}},
                }]}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("proxy", "proxy"), "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _labels(release, "proxy")},
            "template": {"metadata": {"labels": proxy_pod_labels}, "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "chp", "image": proxy_image, "command": ["configurable-http-proxy"],
                    # z2jh: http://hub:$(HUB_SERVICE_PORT); the Service's address here (no cluster DNS).
                    "args": ["--ip=", "--api-ip=", "--api-port=8001",
                             "--default-target=http://$(HUB_SERVICE_HOST):$(HUB_SERVICE_PORT)",
                             "--error-target=http://$(HUB_SERVICE_HOST):$(HUB_SERVICE_PORT)/hub/error",
                             "--port=8000"],
                    "env": [token_env],
                    "ports": [{"name": "http", "containerPort": 8000}, {"name": "api", "containerPort": 8001}],
                    "readinessProbe": {"periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 1000,
                                       "httpGet": {"path": "/_chp_healthz", "port": "http"}},
                    "securityContext": _restricted_container(65534),
                }]}}}},
    ]
