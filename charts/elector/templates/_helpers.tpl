{{- define "elector.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "elector.labels" -}}
app.kubernetes.io/name: elector
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "elector.selector" -}}
app.kubernetes.io/name: elector
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}
