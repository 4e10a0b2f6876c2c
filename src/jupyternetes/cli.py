"""The `jupyternetes` command.

    jupyternetes render --template T.yaml --instance I.yaml   print the manifests an instance renders to
    jupyternetes operator [--kubeconfig FILE]                 run the operator
    jupyternetes webhook [--kubeconfig FILE]                  run the admission webhook
    jupyternetes policy test [--policies DIR] FILE...         judge objects against the policies, offline
    jupyternetes audit [--policies DIR] [--output json]       judge what the cluster holds against the policies
    jupyternetes dev up [--state-dir DIR]                     start the local control plane in the background
    jupyternetes dev down [--state-dir DIR]                   stop it and remove its files
    jupyternetes dev tools                                    build (once) and list the pinned Go binaries

Bad input (a missing file, invalid YAML, the wrong kind, an unknown variable) prints one line on stderr and exits
with status 2. `jupyternetes audit` exits 0 when no object violates an enforced policy, 1 when some do, and 2 when it
could not audit (usage, kubeconfig, connection, permission, policy engine).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

import yaml

from jupyternetes import __version__, kube, models, render

EXIT_USAGE: Final = 2
DEFAULT_STATE_DIR: Final = Path(".jupyternetes") / "dev"


class UsageError(Exception):
    """Bad input from the person at the keyboard: printed as one line, exit status 2."""


def _fail(message: str) -> NoReturn:
    raise UsageError(message)


def _read_single(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        _fail(f"{what} file {path} does not exist")
    except OSError as error:
        _fail(f"cannot read {what} file {path}: {error.strerror}")
    try:
        documents = kube.load_manifests(text, str(path))
    except ValueError as error:
        _fail(str(error))
    if len(documents) != 1:
        _fail(f"{path}: expected exactly one {what} document, found {len(documents)}")
    return documents[0]


def cmd_render(args: argparse.Namespace) -> int:
    try:
        template = models.parse_template(_read_single(args.template, "template"))
        instance = models.parse_instance(_read_single(args.instance, "instance"))
    except models.InvalidObjectError as error:
        _fail(str(error))
    if not instance.metadata.namespace:
        instance.metadata.namespace = args.namespace
    try:
        manifests = render.render(template, instance)
    except render.RenderError as error:
        _fail(f"cannot render {args.template} for {args.instance}: {error}")
    sys.stdout.write(yaml.safe_dump_all([obj.manifest for obj in manifests.all()], sort_keys=False))
    return 0


def _harness() -> None:
    """The development harness ships in a source checkout, not in the runtime wheel or the production images."""
    import importlib.util

    if importlib.util.find_spec("jupyternetes.dev") is None:
        _fail("the development harness (jupyternetes dev) is not part of this installation; it ships with the source: "
              "clone the repository and run scripts/setup, then .venv/bin/jupyternetes dev up")


def cmd_dev_up(args: argparse.Namespace) -> int:
    _harness()
    from jupyternetes.dev import supervisor

    state_dir: Path = args.state_dir.resolve()
    status = supervisor.running_status(state_dir)
    if status is None:
        print(f"starting the local control plane in {state_dir} ...", file=sys.stderr, flush=True)
        status = supervisor.launch(state_dir, args.timeout, args.node)
        if status.get("state") != "ready":
            print(f"jupyternetes: dev up failed: {status.get('error')}", file=sys.stderr)
            return 1
    else:
        print(f"already running in {state_dir}", file=sys.stderr)
    if status.get("node") == "real":
        print(f"Node: real (containerd, runc, the kubelet and kube-router on this machine; {status['node_reason']}). "
              f"Use --node kwok for fake nodes.")
    elif status.get("node"):
        print(f"Node: kwok's fake nodes with the kubelet stand-in ({status['node_reason']}).")
    print(f"Kubernetes API server: {status['server']}")
    for identity, path in status["kubeconfigs"].items():
        print(f"kubeconfig ({identity}): {path}")
    if status.get("hub"):
        print(f"JupyterHub: {status['hub']}  (log in as any user name with the password "
              f"{status['hub_user_password']!r}, also in {status['hub_password_file']}; the user 'admin' is an "
              f"admin)")
        print(f"Hub URL and an admin API token for scripts: {state_dir / 'hub-url'}, {state_dir / 'hub-token'}")
    print(f"Try: kubectl --kubeconfig {status['kubeconfigs']['admin']} get jni,pods -A")
    print(f"Stop with: jupyternetes dev down --state-dir {state_dir}")
    return 0


def cmd_dev_down(args: argparse.Namespace) -> int:
    _harness()
    from jupyternetes.dev import supervisor

    from jupyternetes.dev import node

    state_dir: Path = args.state_dir.resolve()
    stopped = supervisor.shut_down(state_dir)
    if state_dir.exists():
        shutil.rmtree(state_dir, ignore_errors=True)
    # A real node whose supervisor was killed leaves containers and host changes; take them away too.
    if node.stale_node_left():
        left = node.cleanup_stale()
        print("removed what a killed real node had left" + (f"; still different: {left}" if left else ""))
    print("stopped" if stopped else f"nothing was running in {state_dir}")
    return 0


def cmd_dev_tools(args: argparse.Namespace) -> int:
    _harness()
    from jupyternetes.dev import toolchain

    names = args.names or list(toolchain.TOOLS)
    unknown = [name for name in names if name not in toolchain.TOOLS]
    if unknown:
        _fail(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(toolchain.TOOLS)}")
    for name, path in toolchain.ensure(names).items():
        print(f"{name} {toolchain.TOOLS[name].version} {path}")
    return 0


def cmd_dev_images(args: argparse.Namespace) -> int:
    _harness()
    from jupyternetes.dev import images, node

    reason = node.why_not()
    if reason is not None and not args.force:
        print(f"no real node on this machine, so no images to build: {reason}", file=sys.stderr)
        return 0
    try:
        built = images.ensure_all()
    except images.ImageError as error:
        _fail(str(error))
    for image in built.values():
        print(f"{image.name} {image.reference} {image.digest} {image.archive}")
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    from jupyternetes.operator import main as operator_main
    from jupyternetes.operator.settings import OperatorSettings

    settings = _settings(OperatorSettings, "operator", kubeconfig=args.kubeconfig)
    try:
        return operator_main.main(settings)
    except kube.KubeConfigError as error:
        _fail(str(error))


def _settings(cls: Any, what: str, **overrides: Any) -> Any:
    import pydantic

    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except pydantic.ValidationError as error:
        _fail(f"{what} settings are invalid: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in error.errors()))


def cmd_webhook(args: argparse.Namespace) -> int:
    from jupyternetes.webhook import main as webhook_main
    from jupyternetes.webhook.settings import WebhookSettings

    settings = _settings(WebhookSettings, "webhook", kubeconfig=args.kubeconfig, policy_dir=args.policies)
    try:
        return webhook_main.main(settings)
    except (kube.KubeConfigError, ValueError) as error:
        _fail(str(error))


def _opa(given: Path | None) -> Path:
    """The `opa` binary: `--opa`, else $JUPYTERNETES_OPA, else `opa` on PATH, else the one `jupyternetes dev tools`
    built; only as a last resort is it built from its Go module (which needs Go), and the command says so."""
    import importlib.util
    import os

    chosen = given or (Path(os.environ["JUPYTERNETES_OPA"]) if os.environ.get("JUPYTERNETES_OPA") else None)
    if chosen is not None:
        if not (chosen.is_file() and os.access(chosen, os.X_OK)):
            _fail(f"{chosen} is not an executable opa binary (from --opa or $JUPYTERNETES_OPA)")
        return chosen
    found = shutil.which("opa")
    if found:
        return Path(found)
    if importlib.util.find_spec("jupyternetes.dev") is None:
        _fail("no opa binary found: install opa (https://www.openpolicyagent.org/docs/#running-opa) and put it on "
              "PATH, or pass --opa or set $JUPYTERNETES_OPA")
    from jupyternetes.dev import toolchain

    tool = toolchain.TOOLS["opa"]
    if tool.path.is_file():
        return tool.path
    print(f"no opa binary found (--opa, $JUPYTERNETES_OPA, PATH); building OPA {tool.version} from its Go module, "
          "which needs Go and takes a few minutes once. Install opa, or pass --opa, to skip this.", file=sys.stderr,
          flush=True)
    return toolchain.ensure(["opa"], log=True)["opa"]


def cmd_policy_test(args: argparse.Namespace) -> int:
    import asyncio

    from jupyternetes.webhook import offline

    for path in args.files:
        if not path.is_file():
            _fail(f"{path} does not exist")
    if not (args.policies / "data.yaml").is_file():
        _fail(f"{args.policies} has no data.yaml; point --policies at a policy directory")
    opa = _opa(args.opa)
    try:
        results = asyncio.run(offline.check(args.files, args.policies, opa, args.template_namespace or ""))
    except ValueError as error:
        _fail(str(error))
    denied = sum(not verdict.allowed for _, verdict in results)
    if args.output == "json":
        import json

        sys.stdout.write(json.dumps({"results": [
            {"subject": subject, "verdict": "allow" if verdict.allowed else "deny",
             "findings": [{"rule": f.rule, "path": f.path, "message": f.message, "fix": f.fix, "mode": f.mode}
                          for f in verdict.findings],
             "warnings": verdict.warnings} for subject, verdict in results],
            "summary": {"allowed": len(results) - denied, "denied": denied}}, indent=2) + "\n")
        return 1 if denied else 0
    for subject, verdict in results:
        print(f"{'ALLOW' if verdict.allowed else 'DENY'} {subject}")
        for finding in verdict.findings:
            label = {"enforce": "deny", "warn": "warn", "audit": "audit"}[finding.mode]
            print(f"  {label}: {finding.describe()}")
        for warning in verdict.warnings:
            print(f"  warning: {warning}")
    return 1 if denied else 0


def cmd_audit(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from jupyternetes.webhook import audit, audit_runs

    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in audit.KINDS]
    if unknown or not kinds:
        _fail(f"--kinds: unknown kind(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(audit.KINDS)}")
    if not (args.policies / "data.yaml").is_file():
        _fail(f"{args.policies} has no data.yaml; point --policies at a policy directory")
    if args.namespace and args.all_namespaces:
        _fail("--namespace and --all-namespaces go separately")
    opa = _opa(args.opa)
    try:
        report = asyncio.run(audit_runs.run_once(args.kubeconfig, args.namespace or None, kinds, args.policies, opa,
                                                 args.template_namespace or ""))
    except (audit_runs.AuditError, ValueError) as error:
        _fail(f"audit: {error}")
    if args.output == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(audit.table(report, show_passing=args.show_passing))
    errors = [r for r in report.results if r.result == "error"]
    if errors:
        _fail(f"audit: {len(errors)} object(s) could not be judged: the policy engine did not answer")
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyternetes", description="JupyterHub on Kubernetes, least privilege.")
    parser.add_argument("--version", action="version", version=f"jupyternetes {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("render", help="print the manifests that a template renders to for an instance")
    p.add_argument("--template", type=Path, required=True, help="a JupyterNotebookTemplate YAML file")
    p.add_argument("--instance", type=Path, required=True, help="a JupyterNotebookInstance YAML file")
    p.add_argument("--namespace", default="default", help="namespace for an instance that names none")
    p.set_defaults(func=cmd_render)

    op = commands.add_parser("operator", help="run the operator (settings from JUPYTERNETES_OPERATOR_* variables)")
    op.add_argument("--kubeconfig", type=Path, help="kubeconfig to use (default: in-cluster, then $KUBECONFIG)")
    op.set_defaults(func=cmd_operator)

    wh = commands.add_parser("webhook", help="run the admission webhook (settings from JUPYTERNETES_WEBHOOK_* "
                             "variables)")
    wh.add_argument("--kubeconfig", type=Path, help="kubeconfig to use (default: in-cluster, then $KUBECONFIG)")
    wh.add_argument("--policies", type=Path, help="policy directory (default: policies)")
    wh.set_defaults(func=cmd_webhook)

    pol = commands.add_parser("policy", help="check objects against the policies, offline")
    pol_commands = pol.add_subparsers(dest="policy_command", required=True, metavar="POLICY_COMMAND")
    ptest = pol_commands.add_parser("test", help="judge templates, instances, pods or PVCs in files; exit 0 if all "
                                    "are allowed, 1 if any is denied")
    ptest.add_argument("--policies", type=Path, default=Path("policies"), help="policy directory (default: policies)")
    ptest.add_argument("--template-namespace", help="the shared template namespace (default: that of the templates "
                       "given)")
    ptest.add_argument("--opa", type=Path, help="the opa binary (default: $JUPYTERNETES_OPA, then opa on PATH)")
    ptest.add_argument("-o", "--output", choices=("text", "json"), default="text",
                       help="text (default) or json, for CI; the exit status is the same: 0 all allowed, 1 any "
                            "denied, 2 bad input")
    ptest.add_argument("files", type=Path, nargs="+", metavar="FILE")
    ptest.set_defaults(func=cmd_policy_test)

    aud = commands.add_parser("audit", help="judge every stored template and instance and every running "
                              "Jupyternetes pod against the policies; exit 0 if none violates an enforced policy, 1 if "
                              "any does, 2 if the audit could not run")
    aud.add_argument("--policies", type=Path, default=Path("policies"),
                     help="policy directory to judge with (default: policies); point it at a tightened copy to see "
                          "what would fail before rolling it out")
    aud.add_argument("--kubeconfig", type=Path, help="kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)")
    aud.add_argument("--opa", type=Path, help="the opa binary (default: $JUPYTERNETES_OPA, then opa on PATH)")
    aud.add_argument("--namespace", "-n", help="audit only this namespace (default: all namespaces)")
    aud.add_argument("--all-namespaces", "-A", action="store_true", help="audit every namespace (the default)")
    aud.add_argument("--kinds", default=",".join(audit_kinds()),
                     help="comma-separated kinds to audit: templates, instances, pods (default: all three)")
    aud.add_argument("--template-namespace", help="the shared template namespace instances may use besides their "
                     "own (default: the one the instances name)")
    aud.add_argument("--output", "-o", choices=("table", "json"), default="table", help="report format")
    aud.add_argument("--show-passing", action="store_true", help="list objects that pass too (table output)")
    aud.set_defaults(func=cmd_audit)

    dev = commands.add_parser("dev", help="a local control plane for trying Jupyternetes out and for tests")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True, metavar="DEV_COMMAND")
    up = dev_commands.add_parser("up", help="start the local control plane in the background")
    up.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                    help=f"where kubeconfigs, logs and data go (default: {DEFAULT_STATE_DIR})")
    up.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds to wait for start-up, including a first build of the binaries and images")
    up.add_argument("--node", choices=("auto", "real", "kwok"), default="auto",
                    help="real: containerd, runc and the kubelet on this machine (needs root); kwok: fake nodes "
                         "and a kubelet stand-in that runs servers as local processes; auto (default): real where "
                         "this machine allows it, else kwok, saying why")
    up.set_defaults(func=cmd_dev_up)
    down = dev_commands.add_parser("down", help="stop the local control plane and remove its files")
    down.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    down.set_defaults(func=cmd_dev_down)
    tools = dev_commands.add_parser("tools", help="build (once) and list the pinned Go binaries")
    tools.add_argument("names", nargs="*", help="tools to build (default: all)")
    tools.set_defaults(func=cmd_dev_tools)
    dev_images = dev_commands.add_parser("images", help="build (once) and list the real node's images")
    dev_images.add_argument("--force", action="store_true", help="build even where no real node can run")
    dev_images.set_defaults(func=cmd_dev_images)
    return parser


def audit_kinds() -> tuple[str, ...]:
    """What `jupyternetes audit` looks at (the same as jupyternetes.webhook.audit.KINDS, without importing the
    webhook for every command)."""
    return ("templates", "instances", "pods")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as error:
        print(f"jupyternetes: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
