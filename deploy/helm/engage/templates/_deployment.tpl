{{/*
One service's Deployment: (dict "root" $ "component" "enrich" "args" (list "enrich" "worker")
"port" 6066 "data" true "replicas" 1); "queryPort" (loader) adds the /query port.
*/}}
{{- define "engage.deployment" -}}
{{- $root := .root -}}
{{- $v := get $root.Values .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "engage.fullname" $root }}-{{ .component }}
  labels:
    {{- include "engage.componentLabels" . | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if .recreate }}
  # One owner of the embedded chDB at a time: stop the old pod before the new one starts.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "engage.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "engage.selectorLabels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "engage.podCommon" $root | nindent 6 }}
      terminationGracePeriodSeconds: {{ .grace }}
      containers:
        - name: {{ .component }}
          image: {{ include "engage.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
            {{- if .queryPort }}
            - name: query
              containerPort: {{ .queryPort }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "engage.fullname" $root }}
          {{- $env := include "engage.secretEnv" (dict "root" $root "service" .component) }}
          {{- if $env }}
          env:
            {{- $env | trim | nindent 12 }}
          {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 5
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .data }}
            - name: data
              mountPath: /data
            {{- end }}
            {{- with (include "engage.kafkaCaVolumeMount" $root | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if .data }}
        - name: data
          {{- if and (eq .component "loader") $v.persistence.existingClaim }}
          persistentVolumeClaim:
            claimName: {{ $v.persistence.existingClaim }}
          {{- else }}
          emptyDir:
            sizeLimit: {{ $v.dataSizeLimit }}
          {{- end }}
        {{- end }}
        {{- with (include "engage.kafkaCaVolume" $root | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
