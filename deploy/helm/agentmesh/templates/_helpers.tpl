{{/*
Names, labels and shared pieces of the agentmesh chart.
*/}}

{{/* The apps of agentmesh, in a fixed order. */}}
{{- define "agentmesh.appNames" -}}
chat-api chatd-worker aibridge-recorder telemetry-collector dbpurge
{{- end -}}

{{- define "agentmesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-agentmesh, or the release name alone when it already contains the chart name. */}}
{{- define "agentmesh.fullname" -}}
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

{{- define "agentmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of one component's objects. Call with (dict "root" $ "component" "chat-api"). */}}
{{- define "agentmesh.componentName" -}}
{{- printf "%s-%s" (include "agentmesh.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "..."). */}}
{{- define "agentmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentmesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component. Call with (dict "root" $ "component" "..."). */}}
{{- define "agentmesh.labels" -}}
helm.sh/chart: {{ include "agentmesh.chart" .root }}
{{ include "agentmesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentmesh
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "agentmesh.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (toString (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}
{{- end -}}

{{- define "agentmesh.configMapName" -}}
{{- printf "%s-config" (include "agentmesh.fullname" .) -}}
{{- end -}}

{{/* The Secret the apps read: secrets.existingSecret or the one this chart creates. */}}
{{- define "agentmesh.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "agentmesh.fullname" .)) -}}
{{- end -}}

{{/* The Secret the migration Job reads: existingSecret, or a hook copy created just before it. */}}
{{- define "agentmesh.migrationSecretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-migrate" (include "agentmesh.fullname" .)) -}}
{{- end -}}

{{/* `data` of the chart-managed Secrets (base64). DATABASE_URL is required. */}}
{{- define "agentmesh.secretData" -}}
DATABASE_URL: {{ required "secrets.DATABASE_URL is required (postgres://user:password@host:5432/db), or set secrets.existingSecret to a Secret holding it" .Values.secrets.DATABASE_URL | b64enc | quote }}
{{- with .Values.secrets.NATS_TOKEN }}
NATS_TOKEN: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.AGENTMESH_ENCRYPTION_KEYS }}
AGENTMESH_ENCRYPTION_KEYS: {{ . | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* Is a value set? (not null, not empty) */}}
{{- define "agentmesh.isSet" -}}
{{- if not (or (kindIs "invalid" .) (eq (toString .) "")) -}}true{{- end -}}
{{- end -}}

{{/* The shared configuration as a container `env` list (used by the migration Job). */}}
{{- define "agentmesh.configEnv" -}}
{{- range $name, $value := .Values.config }}
{{- if include "agentmesh.isSet" $value }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* config.SHUTDOWN_GRACE_PERIOD in whole seconds (rounded up), as the apps parse it. */}}
{{- define "agentmesh.shutdownGraceSeconds" -}}
{{- $raw := trim (toString (.Values.config.SHUTDOWN_GRACE_PERIOD | default "25s")) -}}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)?$" $raw) -}}
{{- fail (printf "config.SHUTDOWN_GRACE_PERIOD must be a duration like 500ms, 25s, 2m or 1h (got %q)" $raw) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $raw | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" $raw "" -}}
{{- if eq $unit "h" -}}{{ mul $n 3600 }}
{{- else if eq $unit "m" -}}{{ mul $n 60 }}
{{- else if eq $unit "s" -}}{{ $n }}
{{- else -}}{{ div (add $n 999) 1000 }}
{{- end -}}
{{- end -}}

{{/* Pod annotations for Prometheus' kubernetes-pods scrape job. Call with the port. */}}
{{- define "agentmesh.prometheusAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/*
The Deployment of one app. Call with (dict "root" $ "app" "chat-api").
*/}}
{{- define "agentmesh.deployment" -}}
{{- $root := .root -}}
{{- $app := .app -}}
{{- $cfg := index $root.Values.apps $app -}}
{{- if $cfg.enabled -}}
{{- $ctx := dict "root" $root "component" $app -}}
{{- $isApi := eq $app "chat-api" -}}
{{- $portName := ternary "http" "health" $isApi -}}
{{- $hpa := and (eq $app "chatd-worker") $root.Values.chatdWorker.autoscaling.enabled -}}
{{- $preStop := 0 -}}
{{- if $isApi -}}{{- $preStop = int $root.Values.chatApi.preStopSleepSeconds -}}{{- end -}}
{{- $grace := include "agentmesh.shutdownGraceSeconds" $root | atoi -}}
{{- $terminationGrace := int (default $root.Values.terminationGracePeriodSeconds $cfg.terminationGracePeriodSeconds) -}}
{{- if le $terminationGrace (add $grace $preStop) -}}
{{- fail (printf "%s: terminationGracePeriodSeconds (%d) must exceed config.SHUTDOWN_GRACE_PERIOD (%ds)%s, or pods are killed before they drain" $app $terminationGrace $grace (ternary (printf " + chatApi.preStopSleepSeconds (%ds)" $preStop) "" (gt $preStop 0))) -}}
{{- end -}}
{{- range $name := list "HTTP_HOST" "HTTP_PORT" "HEALTH_HOST" "HEALTH_PORT" -}}
{{- if hasKey ($cfg.env | default dict) $name -}}
{{- fail (printf "apps.%s.env.%s is set by the chart from apps.%s.port; set the port there" $app $name $app) -}}
{{- end -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "agentmesh.componentName" $ctx }}
  labels:
    {{- include "agentmesh.labels" $ctx | nindent 4 }}
spec:
  {{- if not $hpa }}
  replicas: {{ $cfg.replicas }}
  {{- end }}
  revisionHistoryLimit: {{ $root.Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- include "agentmesh.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "agentmesh.labels" $ctx | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if $root.Values.metrics.prometheusAnnotations }}
        {{- include "agentmesh.prometheusAnnotations" $cfg.port | nindent 8 }}
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $cfg.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $terminationGrace }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $app }}
          image: {{ include "agentmesh.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ $app | quote }}]
          ports:
            - name: {{ $portName }}
              containerPort: {{ $cfg.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "agentmesh.configMapName" $root }}
            - secretRef:
                name: {{ include "agentmesh.secretName" $root }}
          env:
            {{- if $isApi }}
            - name: HTTP_HOST
              value: "0.0.0.0"
            - name: HTTP_PORT
              value: {{ $cfg.port | quote }}
            {{- else }}
            - name: HEALTH_HOST
              value: "0.0.0.0"
            - name: HEALTH_PORT
              value: {{ $cfg.port | quote }}
            {{- end }}
            {{- range $name, $value := $cfg.env }}
            {{- if include "agentmesh.isSet" $value }}
            - name: {{ $name }}
              value: {{ toString $value | quote }}
            {{- end }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ $portName }}
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ $portName }}
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ $portName }}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          {{- if gt $preStop 0 }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $preStop | quote }}]
          {{- end }}
          resources:
            {{- toYaml $cfg.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
      {{- with $cfg.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
{{- end -}}
