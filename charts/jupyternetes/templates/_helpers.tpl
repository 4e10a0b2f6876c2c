{{/* Names and labels shared by every template. */}}

{{- define "jupyternetes.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jupyternetes.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "jupyternetes.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "jupyternetes.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jupyternetes.labels" -}}
app.kubernetes.io/name: {{ include "jupyternetes.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: jupyternetes
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "jupyternetes.selector" -}}
app.kubernetes.io/name: {{ include "jupyternetes.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "jupyternetes.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "jupyternetes.opaImage" -}}
{{- $image := .Values.webhook.opa.image -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag }}
{{- end -}}
{{- end -}}

{{- define "jupyternetes.templateNamespace" -}}
{{- .Values.templates.namespace | default (printf "%s-templates" .Release.Namespace) -}}
{{- end -}}

{{- define "jupyternetes.hubNamespace" -}}
{{- required "hub.namespace is required: the namespace JupyterHub runs in" .Values.hub.namespace -}}
{{- end -}}

{{- define "jupyternetes.operator.serviceAccount" -}}
{{- .Values.operator.serviceAccount.name | default (printf "%s-operator" (include "jupyternetes.fullname" .)) -}}
{{- end -}}

{{- define "jupyternetes.webhook.serviceAccount" -}}
{{- .Values.webhook.serviceAccount.name | default (printf "%s-webhook" (include "jupyternetes.fullname" .)) -}}
{{- end -}}

{{- define "jupyternetes.webhook.name" -}}
{{- printf "%s-webhook" (include "jupyternetes.fullname" .) -}}
{{- end -}}

{{- define "jupyternetes.operatorUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "jupyternetes.operator.serviceAccount" .) -}}
{{- end -}}

{{- define "jupyternetes.webhookUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "jupyternetes.webhook.serviceAccount" .) -}}
{{- end -}}

{{- /* "true" if .user is no one to give a person's powers to (an officer's, an instance creator's): a Kubernetes
system user other than a service account (the anonymous user, a node, a controller), a namespace's default service
account, or one of .components. */ -}}
{{- define "jupyternetes.notAPerson" -}}
{{- if or (and (hasPrefix "system:" .user) (not (hasPrefix "system:serviceaccount:" .user))) (hasSuffix ":default" .user) (has .user .components) -}}
true
{{- end -}}
{{- end -}}

{{- define "jupyternetes.priorityClassName" -}}
{{- if .Values.priorityClass.create -}}
{{- .Values.priorityClass.name | default (printf "%s-jupyternetes" .Release.Name) -}}
{{- end -}}
{{- end -}}

{{- /* Where the hub creates instances (and so where notebooks run): hub.instanceNamespace, or the hub's own. */ -}}
{{- define "jupyternetes.instanceNamespace" -}}
{{- .Values.hub.instanceNamespace | default (include "jupyternetes.hubNamespace" .) -}}
{{- end -}}

{{- define "jupyternetes.hubUser" -}}
{{- printf "system:serviceaccount:%s:%s" (include "jupyternetes.hubNamespace" .) .Values.hub.serviceAccountName -}}
{{- end -}}

{{- define "jupyternetes.instanceCreators" -}}
{{- .Values.webhook.instanceCreators | default (list (include "jupyternetes.hubUser" .)) | toJson -}}
{{- end -}}

{{- define "jupyternetes.componentServiceAccounts" -}}
{{- list .Values.hub.serviceAccountName (include "jupyternetes.operator.serviceAccount" .) (include "jupyternetes.webhook.serviceAccount" .) | uniq | sortAlpha | toJson -}}
{{- end -}}

{{- /* The namespaces the operator serves: operator.namespaces, or the instances' namespace alone; none (every
namespace) with operator.clusterWide. */ -}}
{{- define "jupyternetes.operatorNamespaces" -}}
{{- if .Values.operator.clusterWide -}}
[]
{{- else -}}
{{- .Values.operator.namespaces | default (list (include "jupyternetes.instanceNamespace" .)) | uniq | toJson -}}
{{- end -}}
{{- end -}}
