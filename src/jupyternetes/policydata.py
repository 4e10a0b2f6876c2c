"""The shape of the policy data that security officers edit (`policies/data.yaml`, `jupyternetes.config`).

Every key the shipped policies and the webhook read is declared here with its type; a key nobody reads, or a value of
the wrong type (an unquoted `true` where a list of label values belongs, a string where a list belongs), is refused
with its path when the webhook loads the data, by `jupyternetes policy test`, and when the chart is installed (the
chart's values schema for `webhook.policyData` is generated from this model; a test holds the two equal). A mistake
in the data can otherwise switch a Rego rule off without a word. Policies that officers add themselves keep their
data under `custom`, which is not checked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, StringConstraints,
                      ValidationError)

from jupyternetes import entitlements, network, patterns

Mode = Literal["enforce", "warn", "audit"]
Quantity = StrictStr | StrictInt | StrictFloat
#: A list of names: an empty one names nothing (and to the admission policies' comma-separated parameters, nothing at
#: all), so it is refused rather than read two ways.
Names = list[Annotated[StrictStr, StringConstraints(min_length=1)]]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Images(_Section):
    allowed: Names = Field(default_factory=list, description="repository globs pods may run images from")
    require_digest: StrictBool = False


class Resources(_Section):
    default_limits: dict[StrictStr, Quantity] = Field(default_factory=dict)
    max_limits: dict[StrictStr, Quantity] = Field(default_factory=dict)
    max_requests: dict[StrictStr, Quantity] = Field(default_factory=dict)


class Storage(_Section):
    max_request: Quantity | None = None
    allowed_classes: Names = Field(default_factory=list)
    allowed_claims: Names = Field(default_factory=list)
    allowed_data_sources: Names = Field(default_factory=list)
    allow_existing_volumes: StrictBool = False
    allowed_csi_drivers: Names = Field(default_factory=list)


class Kinds(_Section):
    allowed: Names = Field(default_factory=list)


class Identity(_Section):
    allowed_service_accounts: Names = Field(default_factory=list)
    allow_token_mount: StrictBool = False
    allowed_token_audiences: Names = Field(default_factory=list)


class Credentials(_Section):
    allowed_secrets: Names = Field(default_factory=list)
    allowed_configmaps: Names = Field(default_factory=list)
    allowed_image_pull_secrets: Names = Field(default_factory=list)
    allow_gmsa: StrictBool = False


class Scheduling(_Section):
    allowed_runtime_classes: Names = Field(default_factory=list)
    allowed_priority_classes: Names = Field(default_factory=list)
    allowed_schedulers: Names = Field(default_factory=list)
    allow_node_pinning: StrictBool = False
    forbidden_toleration_keys: Names = Field(default_factory=list)


class Labels(_Section):
    forbidden: dict[StrictStr, Annotated[Names, Field(min_length=1)]] = Field(
        default_factory=dict, description='label -> values it may not have ("*": any value)')


class IPBlock(_Section):
    cidr: StrictStr
    except_: Names = Field(default_factory=list, alias="except")


class LabelSelector(_Section):
    matchLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)  # noqa: N815 - Kubernetes' own names
    matchExpressions: list[dict[StrictStr, Any]] = Field(default_factory=list)  # noqa: N815


class Peer(_Section):
    ipBlock: IPBlock | None = None  # noqa: N815
    namespaceSelector: LabelSelector | None = None  # noqa: N815
    podSelector: LabelSelector | None = None  # noqa: N815


class Port(_Section):
    port: StrictInt = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    endPort: StrictInt | None = Field(default=None, ge=1, le=65535)  # noqa: N815


class Destination(_Section):
    description: StrictStr = ""
    to: list[Peer] = Field(min_length=1)
    ports: list[Port] = Field(min_length=1)


class Network(_Section):
    # Each destination is also checked by jupyternetes.network.destination_problems (a podSelector alone, empty
    # selectors, CIDRs), with its path.
    destinations: dict[Annotated[StrictStr, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=56)],
                       Destination] = Field(default_factory=dict)


TemplatePattern = Annotated[StrictStr, Field(pattern=entitlements.TEMPLATE_PATTERN, max_length=317)]


class EntitlementRule(_Section):
    templates: list[TemplatePattern] = Field(min_length=1, description="namespace/name patterns ('*' within a part)")
    users: Names = Field(default_factory=list, description='JupyterHub user names ("*": everyone)')
    groups: Names = Field(default_factory=list, description="JupyterHub group names")


class Entitlements(_Section):
    rules: list[EntitlementRule] = Field(default_factory=list, description="empty: every template for everyone")


class Sessions(_Section):
    max_seconds: StrictInt | None = Field(default=None, ge=1, description="longest session of any template")
    templates: dict[TemplatePattern, Annotated[StrictInt, Field(ge=1)]] = Field(
        default_factory=dict, description="per template pattern: its longest session, in seconds")
    max_grace_seconds: StrictInt = Field(
        default=300, ge=0, description="longest terminationGracePeriodSeconds where a session limit applies")


class Fields(_Section):
    allowed: Names = Field(default_factory=list)


class Variables(_Section):
    spawner_defined: Names = Field(default_factory=list)
    max_length: StrictInt | None = Field(default=None, ge=1)
    patterns: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    sensitive: Names = Field(default_factory=list)
    forbid_plaintext: StrictBool = False


class PolicyConfig(_Section):
    """`jupyternetes.config`: every section is optional; what is there must have this shape."""

    modes: dict[StrictStr, Mode] = Field(default_factory=dict)
    images: Images = Field(default_factory=Images)
    resources: Resources = Field(default_factory=Resources)
    storage: Storage = Field(default_factory=Storage)
    kinds: Kinds = Field(default_factory=Kinds)
    identity: Identity = Field(default_factory=Identity)
    credentials: Credentials = Field(default_factory=Credentials)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    labels: Labels = Field(default_factory=Labels)
    network: Network = Field(default_factory=Network)
    entitlements: Entitlements = Field(default_factory=Entitlements)
    sessions: Sessions = Field(default_factory=Sessions)
    fields: Fields = Field(default_factory=Fields)
    variables: Variables = Field(default_factory=Variables)
    custom: dict[StrictStr, Any] = Field(default_factory=dict, description="data for policies officers add")


def problems(config: Any) -> list[str]:
    """Every way `config` (jupyternetes.config) is not policy data, each with its path and what to write instead."""
    if not isinstance(config, dict):
        return [f"jupyternetes.config must be a mapping, not {type(config).__name__}"]
    try:
        PolicyConfig.model_validate(config)
    except ValidationError as error:
        found = [_describe(e) for e in error.errors()]
    else:
        found = []
    found += [f"{where}: {pattern!r} has '**'; '*' already matches any characters within a part, and nothing "
              "crosses the '/'" for where, pattern in _template_patterns(config) if "**" in pattern]
    found += [f"variables.patterns[{name!r}]: {problem}" for name, problem in _variable_pattern_problems(config)]
    if any(problem.startswith("network") for problem in found):
        return found
    # What a schema cannot say about a destination: a podSelector alone, empty selectors, CIDRs.
    return found + network.destination_problems((config.get("network") or {}).get("destinations"))


def _variable_pattern_problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Each variable pattern that OPA could not compile (its `regex.match` would then refuse every value)."""
    variables = config.get("variables")
    found = (variables.get("patterns") if isinstance(variables, dict) else None) or {}
    return [(str(name), reason) for name, pattern in (found.items() if isinstance(found, dict) else ())
            if isinstance(pattern, str) and (reason := patterns.problem(pattern)) is not None]


def _template_patterns(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every template pattern in the entitlements and session limits, with its path."""
    found: list[tuple[str, str]] = []
    rules = (config.get("entitlements") or {}).get("rules") if isinstance(config.get("entitlements"), dict) else None
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        templates = rule.get("templates") if isinstance(rule, dict) else None
        found += [(f"entitlements.rules[{index}].templates[{i}]", p)
                  for i, p in enumerate(templates if isinstance(templates, list) else []) if isinstance(p, str)]
    limits = (config.get("sessions") or {}).get("templates") if isinstance(config.get("sessions"), dict) else None
    found += [(f"sessions.templates[{p!r}]", p) for p in (limits if isinstance(limits, dict) else {})
              if isinstance(p, str)]
    return found


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).replace("_", "").isalnum():
            path += f".{part}" if path else str(part)
        else:
            path += f"[{str(part)!r}]"
    return path


def _describe(error: Any) -> str:
    path = _path(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{path}: no policy reads this key; check its spelling, or put data for your own policies under custom"
    value = error.get("input")
    if error["type"] == "string_pattern_mismatch" and path.startswith(("entitlements", "sessions")):
        return (f"{path}: {value!r} is not a template pattern: write namespace/name in lower case, with '*' for any "
                "characters within one part (for example kadense/gpu-*)")
    return f"{path}: {error['msg'].rstrip('.').lower()} (found {value!r})"


def values_schema() -> dict[str, Any]:
    """A JSON schema for the chart's `webhook.policyData` (merged over the shipped data, so every key optional)."""
    schema = PolicyConfig.model_json_schema(ref_template="#/properties/webhook/properties/policyData/$defs/{model}",
                                            by_alias=True)
    return {**_strip(schema), "description": "Merged over policies/data.yaml's jupyternetes.config (the shape: "
            "src/jupyternetes/policydata.py)"}


def _strip(node: Any) -> Any:
    """Drop what only documents (titles, defaults), so that the chart's schema reads as the model does."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("title", "default")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node
