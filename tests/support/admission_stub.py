"""A minimal real admission webhook for operator tests: the API server calls it over TLS, and it denies pods that
carry a chosen label with a chosen message. (The real Jupyternetes webhook has its own tests.)"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jupyternetes import kube, pki

VWC = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]


class DenyingWebhook:
    def __init__(self, admin: kube.Kube, namespace: str, label: str, message: str) -> None:
        self.admin = admin
        self.namespace = namespace
        self.label = label
        self.message = message
        self.name = f"deny-{namespace}"
        ca = pki.new_ca("test-webhook-ca")
        serving = pki.issue(ca, "127.0.0.1", ip_addresses=["127.0.0.1"], server=True)
        self._dir = tempfile.TemporaryDirectory()
        cert, key = Path(self._dir.name) / "tls.crt", Path(self._dir.name) / "tls.key"
        serving.write(cert, key)
        message_ = message

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": False,
                                            "status": {"code": 403, "message": message_}}
                body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "response": response}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.ca_pem = ca.cert_pem

    def __enter__(self) -> DenyingWebhook:
        self.thread.start()
        port = self.server.server_address[1]
        self.admin.create({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [{
                "name": "deny.test.jupyternetes.io",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/deny",
                                 "caBundle": base64.b64encode(self.ca_pem).decode()},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["pods"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
                "objectSelector": {"matchExpressions": [{"key": self.label, "operator": "Exists"}]},
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
            }],
        })
        return self

    def __exit__(self, *exc: object) -> None:
        self.admin.delete(VWC, self.name)
        self.server.shutdown()
        self._dir.cleanup()
