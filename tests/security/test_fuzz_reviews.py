"""Ten thousand generated admission reviews against both endpoints of the running webhook (its own process, over TLS,
with OPA and the shipped policies behind it): no HTTP 500, no internal-error denial. Each answer is a 400 or 413
naming the problem, or an AdmissionReview response for the review's uid.

The reviews are the webhook's real inputs made wrong: templates, instances, pods, PVCs and Secrets from the seeds
with a random part replaced by any JSON value (wrong types anywhere), random envelopes, deeply nested documents,
invalid UTF-8 and oversized bodies. An attacker who reaches the webhook's port directly sends exactly this."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyternetes import models, render
from jupyternetes.webhook import defaults, review
from tests import seeds
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster

OPERATOR = "system:serviceaccount:jupyternetes:jupyternetes-operator"
HUB = "system:serviceaccount:default:hub"
EXAMPLES = 10_000


def _seed_objects() -> dict[str, dict[str, Any]]:
    template = seeds.seed_template()
    for pod in template["spec"]["pods"]:
        pod["spec"], _ = defaults.apply(pod["spec"], defaults.PodDefaults({"cpu": "2", "memory": "4Gi"}))
    instance = seeds.seed_instance()
    instance.pop("status")
    instance["metadata"]["uid"] = "0e0e0e0e-1111-2222-3333-444444444444"
    instance["spec"]["variables"]["jupyterhub.env.JUPYTERHUB_API_URL"] = "http://hub:8081/hub/api"
    manifests = render.render(models.parse_template(template), models.parse_instance(instance))
    owner = [{"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance", "name": instance["metadata"]["name"],
              "uid": instance["metadata"]["uid"], "controller": True}]
    pod, pvc = (copy.deepcopy(m.manifest) for m in (manifests.pods[0], manifests.pvcs[0]))
    pod["metadata"]["ownerReferences"] = owner
    secret = render.instance_secret(models.parse_instance(instance), {})
    assert secret is not None
    secret["metadata"]["ownerReferences"] = owner
    return {"jupyternotebooktemplates": template, "jupyternotebookinstances": instance, "pods": pod,
            "persistentvolumeclaims": pvc, "secrets": secret}


SEEDS = _seed_objects()
KINDS = {"jupyternotebooktemplates": ("kadense.io", "JupyterNotebookTemplate"),
         "jupyternotebookinstances": ("kadense.io", "JupyterNotebookInstance"), "pods": ("", "Pod"),
         "persistentvolumeclaims": ("", "PersistentVolumeClaim"), "secrets": ("", "Secret"),
         "services": ("", "Service"), "configmaps": ("", "ConfigMap"), "leases": ("coordination.k8s.io", "Lease")}
KEYS = ["metadata", "spec", "name", "namespace", "labels", "annotations", "ownerReferences", "uid", "containers",
        "initContainers", "image", "securityContext", "volumes", "env", "pods", "pvcs", "otherResources",
        "variables", "sealedVariables", "template", "data", "type", "resources", "limits", "hostPath", "privileged",
        "jupyternetes.kadense.io/instance-name", "app.kubernetes.io/managed-by"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["", "{", "{x}", "}", "..", "jupyternetes", OPERATOR,
                                                           "\ud800", "a\udfffb", "\x00", "10000000000000n"]))
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=4)), max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, resource: str) -> Any:
    """A seed object with one part (anywhere, however deep) replaced by any JSON value, or removed."""
    obj: Any = copy.deepcopy(SEEDS.get(resource) or {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "x"}})
    if draw(st.integers(0, 9)) == 0:
        return obj
    node = obj
    for _ in range(draw(st.integers(0, 8))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        if not children:
            break
        key, child = children[draw(st.integers(0, len(children) - 1))]
        if not isinstance(child, (dict, list)) or draw(st.booleans()):
            if draw(st.integers(0, 4)) == 0 and isinstance(node, dict):
                del node[key]
            else:
                node[key] = draw(json_values)
            return obj
        node = child
    return draw(json_values) if draw(st.integers(0, 5)) == 0 else obj


@st.composite
def reviews(draw: st.DrawFn) -> bytes:
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(st.binary(max_size=200))  # anything at all, invalid UTF-8 included
    if shape == 1:
        depth = draw(st.sampled_from([50, 200, 1_000, 5_000, 100_000]))
        opener = draw(st.sampled_from(['[', '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (opener * depth + "1" + closer * depth).encode()
    if shape == 2:
        return json.dumps(draw(json_values)).encode()
    resource = draw(st.sampled_from(sorted(KINDS)))
    group, kind = KINDS[resource]
    request: dict[str, Any] = {
        "uid": draw(st.one_of(st.just("fuzz-uid"), st.just("fuzz-\ud800"), json_values)) if shape == 3 else "fuzz-uid",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "subResource": draw(st.sampled_from(["", "", "", "status", "ephemeralcontainers"])),
        "namespace": draw(st.sampled_from(["default", "kadense", "jupyternetes", "kube-system", ""])),
        "operation": draw(st.sampled_from(["CREATE", "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT"])),
        # Mostly the identities whose requests reach the deepest checks: the operator making objects, the hub.
        "userInfo": {"username": draw(st.sampled_from([OPERATOR, OPERATOR, OPERATOR, HUB, HUB, "someone", ""])),
                     "groups": draw(st.sampled_from([[], ["system:authenticated"]]))},
        "object": draw(mutated(resource)),
        "oldObject": draw(st.one_of(st.none(), mutated(resource))),
        "dryRun": draw(st.booleans()),
    }
    if shape == 4:
        key = draw(st.sampled_from(sorted(request)))
        request[key] = draw(json_values)  # a wrong type in the envelope itself
    document: Any = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    body = json.dumps(document).encode()
    if shape == 5:
        body = body[:draw(st.integers(0, len(body)))]  # cut short
    if shape == 6:
        body = body.replace(b'"fuzz-uid"', b'"fuzz-uid\xff\xfe"')  # invalid UTF-8 inside a valid document
    return body


def _sent_uid(body: bytes) -> Any:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    request = document.get("request") if isinstance(document, dict) else None
    return request.get("uid") if isinstance(request, dict) else None


def test_ten_thousand_generated_reviews_get_a_named_denial_or_a_4xx_and_never_a_500(stack: Stack) -> None:
    client = httpx.Client(base_url=stack.webhook.url, verify=False, timeout=30)
    outcomes: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(body=reviews(), path=st.sampled_from(["/validate", "/mutate"]))
    def check(body: bytes, path: str) -> None:
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (200, 400, 413), (response.status_code, response.text[:500])
        if response.status_code != 200:
            outcomes[f"HTTP {response.status_code}"] += 1
            assert response.json()["error"]
            return
        answer = response.json()
        assert answer["apiVersion"] == review.API_VERSION and answer["kind"] == review.KIND
        result = answer["response"]
        if _sent_uid(body) == "fuzz-uid":
            assert result["uid"] == "fuzz-uid"  # the API server matches the answer to its review by uid
        assert isinstance(result["allowed"], bool)
        if result["allowed"]:
            outcomes["allowed"] += 1
            return
        status = result["status"]
        assert status["code"] != 500, status["message"][:500]  # an internal error names nothing
        assert status["message"]
        outcomes[f"denied {status['code']}"] += 1

    try:
        check()
    finally:
        client.close()
    total = sum(outcomes.values())
    print(f"\n{total} reviews: {dict(sorted(outcomes.items()))}")
    assert total >= EXAMPLES
    assert outcomes["allowed"] > 0 and outcomes["denied 403"] > 0 and outcomes["HTTP 400"] > 0


@pytest.mark.parametrize("name", ["a/b", "..", "x\ud800", "%2e%2e", "UPPER", "a" * 300])
def test_an_object_naming_an_instance_that_cannot_exist_gets_a_named_denial(stack: Stack, name: str) -> None:
    """The webhook looks instances up by the name a pod carries; a name no object can have is never turned into a
    request to the API server, and the answer says what is missing."""
    pod = copy.deepcopy(SEEDS["pods"])
    pod["metadata"]["annotations"]["jupyternetes.kadense.io/instance-name"] = name
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "named", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
        "operation": "CREATE", "userInfo": {"username": OPERATOR}, "object": pod}}
    with httpx.Client(base_url=stack.webhook.url, verify=False, timeout=30) as client:
        answer = client.post("/validate", content=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"}).json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 403, answer
    assert "exists to render this Pod (rule rendered-only)" in answer["status"]["message"]
