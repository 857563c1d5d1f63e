{{/* The chart's name, or nameOverride. */}}
{{- define "elector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
What the release's objects are named after, as cert-manager's chart names them: fullnameOverride,
else <release>-<name> (only <release> when it contains the name already), cut to 63 characters.
*/}}
{{- define "elector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "elector.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One object's name: the fullname cut so that "<fullname>-<suffix>" still fits in 63 characters. */}}
{{- define "elector.object" -}}
{{- $room := sub 62 (len .suffix) | int -}}
{{- printf "%s-%s" (include "elector.fullname" .root | trunc $room | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* The labels of every object, pods included: app.kubernetes.io's, and Helm's. */}}
{{- define "elector.labels" -}}
app.kubernetes.io/name: {{ include "elector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: elector
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "elector.selector" -}}
app.kubernetes.io/name: {{ include "elector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}
