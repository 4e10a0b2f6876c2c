"""Names shared by every component: the API group, kinds, labels and annotations.

Everything that more than one component must agree on lives here, so that the operator, the webhook and the
spawner can never drift apart on a label key or a resource name.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "kadense.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

TEMPLATE_KIND: Final = "JupyterNotebookTemplate"
TEMPLATE_PLURAL: Final = "jupyternotebooktemplates"
TEMPLATE_SINGULAR: Final = "jupyternotebooktemplate"
TEMPLATE_SHORT_NAME: Final = "jnt"

INSTANCE_KIND: Final = "JupyterNotebookInstance"
INSTANCE_PLURAL: Final = "jupyternotebookinstances"
INSTANCE_SINGULAR: Final = "jupyternotebookinstance"
INSTANCE_SHORT_NAME: Final = "jni"

CATEGORY: Final = "jupyternetes"

#: Prefix of every label and annotation that Jupyternetes itself sets.
LABEL_PREFIX: Final = "jupyternetes.kadense.io/"

#: Name of the instance that an object was rendered for (a label value, so shortened with a hash when long).
LABEL_INSTANCE: Final = LABEL_PREFIX + "instance"
#: Name of the template that an object was rendered from.
LABEL_TEMPLATE: Final = LABEL_PREFIX + "template"
#: Namespace of the template that an object was rendered from.
LABEL_TEMPLATE_NAMESPACE: Final = LABEL_PREFIX + "template-namespace"
#: Which entry of the template (its `name`) an object was rendered from.
LABEL_ENTRY: Final = LABEL_PREFIX + "entry"
#: Which list of the template the entry came from: `pod`, `pvc` or `other`.
LABEL_ENTRY_KIND: Final = LABEL_PREFIX + "entry-kind"

LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "jupyternetes"

#: Full (unshortened) name of the instance, for people and tools that need it when the label is hashed.
ANNOTATION_INSTANCE_NAME: Final = LABEL_PREFIX + "instance-name"

#: The labels that tie an object to an instance name and template entry, whatever the template.
INSTANCE_LABELS: Final = (LABEL_MANAGED_BY, LABEL_INSTANCE, LABEL_ENTRY, LABEL_ENTRY_KIND)
#: Labels that the renderer sets on every object and that no template may set itself.
RESERVED_LABELS: Final = frozenset(
    {LABEL_INSTANCE, LABEL_TEMPLATE, LABEL_TEMPLATE_NAMESPACE, LABEL_ENTRY, LABEL_ENTRY_KIND, LABEL_MANAGED_BY}
)
#: Annotations that the renderer sets on every object and that no template may set itself.
RESERVED_ANNOTATIONS: Final = frozenset({ANNOTATION_INSTANCE_NAME})

#: Variables that Jupyternetes derives from the instance and template; an instance may repeat them (the seed
#: example does) but may not give them a different value.
VAR_INSTANCE_NAME: Final = "jupyternetes.instance.name"
VAR_INSTANCE_NAMESPACE: Final = "jupyternetes.instance.namespace"
VAR_TEMPLATE_NAME: Final = "jupyternetes.template.name"
VAR_TEMPLATE_NAMESPACE: Final = "jupyternetes.template.namespace"
VAR_SECRET: Final = "jupyternetes.secret"
VAR_PVC_PREFIX: Final = "jupyternetes.pvcs."
VAR_POD_PREFIX: Final = "jupyternetes.pods."
VAR_OTHER_PREFIX: Final = "jupyternetes.others."
DERIVED_VARIABLE_PREFIX: Final = "jupyternetes."

#: Entry kinds, as used in LABEL_ENTRY_KIND and in field paths.
ENTRY_POD: Final = "pod"
ENTRY_PVC: Final = "pvc"
ENTRY_OTHER: Final = "other"
ENTRY_SECRET: Final = "secret"

#: Template entry name of the instance's own Secret (sealed variables opened, and the hub's environment).
SECRET_ENTRY: Final = "secret"
#: Variables that carry the hub's environment for the notebook, one per variable: jupyterhub.env.<NAME>.
ENV_VARIABLE_PREFIX: Final = "jupyterhub.env."
