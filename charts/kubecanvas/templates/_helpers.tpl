{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "kubecanvas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubecanvas.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubecanvas.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubecanvas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubecanvas
{{- end }}

{{- define "kubecanvas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubecanvas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubecanvas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "kubecanvas.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kubecanvas.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "kubecanvas.runtimeImage" -}}
{{- printf "%s:%s" .Values.tasks.image.repository (default .Chart.AppVersion .Values.tasks.image.tag) }}
{{- end }}

{{/* Scope: the namespaces watched, as a list; empty means cluster-wide. */}}
{{- define "kubecanvas.watchNamespaces" -}}
{{- toJson (.Values.watchNamespaces | default list | uniq) }}
{{- end }}

{{- define "kubecanvas.peeringName" -}}
{{- default (include "kubecanvas.fullname" .) .Values.ha.peeringName }}
{{- end }}

{{/* The namespace `helm test` runs its Workflow in: the release's, unless the operator does
     not watch it; then the first watched namespace. */}}
{{- define "kubecanvas.testNamespace" -}}
{{- $watched := include "kubecanvas.watchNamespaces" . | fromJsonArray }}
{{- if or (not $watched) (has .Release.Namespace $watched) }}
{{- .Release.Namespace }}
{{- else }}
{{- first $watched }}
{{- end }}
{{- end }}

{{/* Redis ------------------------------------------------------------------------------- */}}

{{- define "kubecanvas.redisName" -}}
{{- printf "%s-redis" (include "kubecanvas.fullname" .) }}
{{- end }}

{{- define "kubecanvas.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:%d/0" (include "kubecanvas.redisName" .) .Release.Namespace (int .Values.redis.port) }}
{{- else }}
{{- required "redis.external.url is required when redis.enabled is false (or enable the bundled Redis)" .Values.redis.external.url }}
{{- end }}
{{- end }}

{{/* The Secret and key holding the Redis password, as "name/key"; empty: no password. */}}
{{- define "kubecanvas.redisPasswordRef" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s/password" (default (include "kubecanvas.redisName" .) .Values.redis.existingSecret) }}
{{- else if .Values.redis.external.existingSecret }}
{{- printf "%s/%s" .Values.redis.external.existingSecret .Values.redis.external.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Webhook ----------------------------------------------------------------------------- */}}

{{- define "kubecanvas.webhookName" -}}
{{- printf "%s-webhook" (include "kubecanvas.fullname" .) }}
{{- end }}

{{/* Whether the operator serves TLS (the webhook, the results API): then it has a serving
     certificate (serving.yaml) and a Service for both. */}}
{{- define "kubecanvas.servesTls" -}}
{{- if or .Values.webhook.enabled .Values.resultsApi.enabled }}true{{- end }}
{{- end }}

{{- define "kubecanvas.webhookCertSecret" -}}
{{- printf "%s-webhook-cert" (include "kubecanvas.fullname" .) }}
{{- end }}


{{/* The operator container's flags. */}}
{{- define "kubecanvas.operatorArgs" -}}
- --liveness
- {{ printf "http://0.0.0.0:%d/healthz" (int .Values.operator.healthPort) | quote }}
- --log-format
- {{ .Values.operator.logFormat | quote }}
{{- range (include "kubecanvas.watchNamespaces" . | fromJsonArray) }}
- --namespace
- {{ . | quote }}
{{- end }}
{{- if .Values.ha.enabled }}
- --leader-elect
- --lease-name
- {{ printf "%s-operator" (include "kubecanvas.fullname" .) | quote }}
- --peering
- {{ include "kubecanvas.peeringName" . | quote }}
{{- end }}
{{- if .Values.operator.verbose }}
- --verbose
{{- end }}
{{- end }}

{{/* The names the webhook's serving certificate is for, as JSON {"dns": [...], "ips": [...]}:
     the Service's DNS names, plus the host of webhook.url when that is set. */}}
{{- define "kubecanvas.webhookCertHosts" -}}
{{- $service := include "kubecanvas.webhookName" . }}
{{- $ns := .Release.Namespace }}
{{- $dns := list $service (printf "%s.%s" $service $ns) (printf "%s.%s.svc" $service $ns) (printf "%s.%s.svc.cluster.local" $service $ns) }}
{{- $ips := list }}
{{- if .Values.webhook.url }}
{{- $host := (urlParse .Values.webhook.url).hostname }}
{{- if regexMatch "^[0-9.]+$|:" $host }}
{{- $ips = append $ips $host }}
{{- else }}
{{- $dns = append $dns $host }}
{{- end }}
{{- end }}
{{- toJson (dict "dns" $dns "ips" $ips) }}
{{- end }}
