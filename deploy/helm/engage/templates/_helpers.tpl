{{/* Names and labels. */}}
{{- define "engage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "engage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "engage.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "engage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: engage
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "ingest"). */}}
{{- define "engage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "engage.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "engage.componentLabels" -}}
{{ include "engage.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "engage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "engage.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "engage.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A config value as the string pydantic reads back: whole numbers without an exponent. */}}
{{- define "engage.configValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* True when ClickHouse is the embedded chDB in the loader pod (no DSN Secret, chdb:// DSN). */}}
{{- define "engage.embeddedClickhouse" -}}
{{- if and (not .Values.secretEnv.clickhouse_dsn.secretName) (hasPrefix "chdb:" (toString .Values.config.clickhouse_dsn)) -}}
true
{{- end -}}
{{- end -}}

{{/* Env entries from Secrets for one service: (dict "root" $ "service" "ingest"). */}}
{{- define "engage.secretEnv" -}}
{{- $root := .root -}}
{{- range $field, $ref := $root.Values.secretEnv }}
{{- if and $ref.secretName (has $.service $ref.services) }}
- name: ENGAGE_{{ upper $field }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
      optional: {{ $ref.optional }}
{{- end }}
{{- end }}
{{- if and $root.Values.kafkaTls.caSecret (ne .service "migrate") }}
- name: ENGAGE_KAFKA_SSL_CAFILE
  value: /etc/engage/kafka-ca/{{ $root.Values.kafkaTls.caKey }}
{{- end }}
{{- end -}}

{{- define "engage.kafkaCaVolumeMount" -}}
{{- if .Values.kafkaTls.caSecret }}
- name: kafka-ca
  mountPath: /etc/engage/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "engage.kafkaCaVolume" -}}
{{- if .Values.kafkaTls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafkaTls.caSecret }}
    items:
      - key: {{ .Values.kafkaTls.caKey }}
        path: {{ .Values.kafkaTls.caKey }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every engage pod shares. */}}
{{- define "engage.podCommon" -}}
serviceAccountName: {{ include "engage.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
Faust changelog tables per worker (services/enrich/app.py STATE_TABLES, services/alerts/app.py):
name -> partitions ("all" = config.topic_partitions). tests/unit/test_helm_chart.py compares the
rendered KafkaTopics with the topics the faust apps declare.
*/}}
{{- define "engage.faustTables" -}}
enrich:
  features-posts: all
  features-funnels: all
  features-threads: all
  features-brands: all
alerts:
  alert-signals: all
  alerts-active: 1
{{- end -}}
