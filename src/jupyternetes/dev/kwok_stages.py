"""kwok's stages for the local control plane: its own (nodes initialise and keep a lease; pods become ready, complete
and go), plus stages that make a pod fail the ways a real one does, so that tests can show what a hub user is told.

A pod annotated `kwok.jupyternetes.dev/fail-as: <reason>` is not made ready; instead it gets the status a kubelet
reports for that failure:
- `ImagePullBackOff`: pending, its containers waiting to pull their image;
- `CrashLoopBackOff`: running but not ready, its containers restarting after exiting with code 1;
- `OOMKilled`: the same, after the kernel killed them for using too much memory.

The annotation is for tests of the development harness only (templates carry it); nothing in the product reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

FAIL_AS: Final = "kwok.jupyternetes.dev/fail-as"
_NOT_FAILING: Final = {"key": f'.metadata.annotations["{FAIL_AS}"]', "operator": "DoesNotExist"}

_WAITING: Final = """\
{{{{ $now := Now }}}}
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "True"
  type: PodScheduled
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  type: Ready
  reason: ContainersNotReady
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: {restarts}
  state:
    waiting:
      reason: {reason}
      message: {{{{ printf {message} .image .name | Quote }}}}
{last_state}{{{{ end }}}}
phase: {phase}
{address}"""
_ADDRESS: Final = """\
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
startTime: {{ Now | Quote }}
"""
_LAST: Final = """\
  lastState:
    terminated:
      exitCode: {code}
      reason: {reason}
"""
#: fail-as value -> (phase, waiting reason, message format over image and container name, restarts, last exit).
FAILURES: Final[dict[str, tuple[str, str, str, int, tuple[int, str] | None]]] = {
    "ImagePullBackOff": ("Pending", "ImagePullBackOff", '"Back-off pulling image %q (container %s)"', 0, None),
    "CrashLoopBackOff": ("Running", "CrashLoopBackOff",
                         '"back-off 40s restarting failed container (image %s, container %s)"', 3, (1, "Error")),
    "OOMKilled": ("Running", "CrashLoopBackOff",
                  '"back-off 40s restarting failed container (image %s, container %s)"', 3, (137, "OOMKilled")),
}


def _failure_stage(name: str) -> dict[str, Any]:
    phase, reason, message, restarts, last = FAILURES[name]
    template = _WAITING.format(restarts=restarts, reason=reason, message=message, phase=phase,
                               last_state=_LAST.format(code=last[0], reason=last[1]) if last else "",
                               address=_ADDRESS if phase == "Running" else "")
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": f"pod-fail-as-{name.lower()}"},
            "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                     "selector": {"matchExpressions": [
                         {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                         {"key": f'.metadata.annotations["{FAIL_AS}"]', "operator": "In", "values": [name]},
                         {"key": ".spec.nodeName", "operator": "Exists"},
                         {"key": ".status.containerStatuses", "operator": "DoesNotExist"}]},
                     "next": {"statusTemplate": template}}}


def write(kwok_stage_dir: Path, target: Path) -> list[Path]:
    """The stage files for kwok, in `target`: kwok's own from `kwok_stage_dir` (its module's kustomize/stage), pod-ready
    changed to leave failing pods alone, and one stage per failure."""
    target.mkdir(parents=True, exist_ok=True)
    files = [kwok_stage_dir / "node" / "fast" / "node-initialize.yaml",
             kwok_stage_dir / "node" / "heartbeat-with-lease" / "node-heartbeat-with-lease.yaml",
             kwok_stage_dir / "pod" / "fast" / "pod-complete.yaml",
             kwok_stage_dir / "pod" / "fast" / "pod-delete.yaml"]
    ready = yaml.safe_load((kwok_stage_dir / "pod" / "fast" / "pod-ready.yaml").read_text())
    ready["spec"]["selector"]["matchExpressions"].append(_NOT_FAILING)
    (target / "pod-ready.yaml").write_text(yaml.safe_dump(ready, sort_keys=False))
    files.append(target / "pod-ready.yaml")
    for name in FAILURES:
        path = target / f"pod-fail-as-{name.lower()}.yaml"
        path.write_text(yaml.safe_dump(_failure_stage(name), sort_keys=False))
        files.append(path)
    return files
