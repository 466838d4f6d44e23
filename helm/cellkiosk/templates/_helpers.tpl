{{/* Names */}}
{{- define "cellkiosk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cellkiosk.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* <fullname>-<component>, e.g. cellkiosk-consumer-segmentation */}}
{{- define "cellkiosk.component" -}}
{{- printf "%s-%s" (include "cellkiosk.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The recommended labels; call with (dict "root" $ "component" "gateway") */}}
{{- define "cellkiosk.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "cellkiosk.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: cellkiosk
{{- end }}

{{- define "cellkiosk.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cellkiosk.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every pod of this release (NetworkPolicy peers) */}}
{{- define "cellkiosk.releasePods" -}}
app.kubernetes.io/name: {{ include "cellkiosk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* One of our images: (dict "root" $ "image" .Values.image.gateway) */}}
{{- define "cellkiosk.image" -}}
{{- $registry := .root.Values.image.registry }}
{{- $repo := .image.repository }}
{{- if $registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" $registry) $repo }}{{ end }}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "cellkiosk.secretName" -}}
{{- default (include "cellkiosk.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "cellkiosk.redisUrl" -}}
{{- if .Values.valkey.enabled -}}
redis://{{ include "cellkiosk.fullname" . }}-valkey:6379/0
{{- else -}}
{{ .Values.valkey.external.url }}
{{- end }}
{{- end }}

{{/* host:port for KEDA's redis-streams trigger */}}
{{- define "cellkiosk.redisAddress" -}}
{{- if .Values.valkey.enabled -}}
{{ include "cellkiosk.fullname" . }}-valkey.{{ .Release.Namespace }}.svc:6379
{{- else -}}
{{ required "valkey.external.address (host:port) is needed by KEDA when valkey.enabled is false" .Values.valkey.external.address }}
{{- end }}
{{- end }}

{{- define "cellkiosk.redisDatabase" -}}
{{- if .Values.valkey.enabled }}0{{ else }}{{ .Values.valkey.external.databaseIndex }}{{ end }}
{{- end }}

{{- define "cellkiosk.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}
http://{{ include "cellkiosk.fullname" . }}-minio:9000
{{- else -}}
{{ .Values.storage.endpointUrl }}
{{- end }}
{{- end }}

{{- define "cellkiosk.s3PublicEndpoint" -}}
{{- if .Values.storage.publicEndpointUrl -}}
{{ .Values.storage.publicEndpointUrl }}
{{- else if and .Values.minio.enabled .Values.minio.ingress.enabled -}}
{{ ternary "https" "http" .Values.minio.ingress.tls.enabled }}://{{ .Values.minio.ingress.host }}
{{- end }}
{{- end }}

{{/* The models folder the gateway and consumers read */}}
{{- define "cellkiosk.modelsDir" -}}
{{- if eq .Values.modelStore.source "image" }}/opt/cellkiosk/models{{ else }}/var/lib/cellkiosk/models{{ end }}
{{- end }}

{{/* Pod-level settings shared by every pod: security context, pull secrets */}}
{{- define "cellkiosk.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
{{- end }}

{{- define "cellkiosk.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end }}

{{/* Settings and secrets as environment variables */}}
{{- define "cellkiosk.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "cellkiosk.fullname" . }}
  - secretRef:
      name: {{ include "cellkiosk.secretName" . }}
{{- end }}

{{/* Init containers that lay out the model store (bucket or volume sources); (dict "root" $ "tfserving" bool) */}}
{{- define "cellkiosk.modelInit" -}}
{{- $v := .root.Values }}
{{- if ne $v.modelStore.source "image" }}
- name: models
  image: {{ include "cellkiosk.image" (dict "root" .root "image" $v.image.gateway) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if eq $v.modelStore.source "bucket" }}
  command: ["python3", "-m", "cellkiosk.cli", "pull-models", {{ required "modelStore.bucketUrl (s3://bucket/prefix) is needed when modelStore.source is bucket" $v.modelStore.bucketUrl | quote }}, "/var/lib/cellkiosk/models"]
  {{- else }}
  command: ["sh", "-c", "cp -R /store/. /var/lib/cellkiosk/models/"]
  {{- end }}
  {{- include "cellkiosk.envFrom" .root | nindent 2 }}
  resources:
    {{- toYaml $v.modelStore.initResources | nindent 4 }}
  {{- include "cellkiosk.containerSecurity" .root | nindent 2 }}
  volumeMounts:
    - {name: models, mountPath: /var/lib/cellkiosk/models}
    - {name: tmp, mountPath: /tmp}
    {{- if eq $v.modelStore.source "volume" }}
    - name: store
      mountPath: /store
      readOnly: true
      {{- with $v.modelStore.volume.subPath }}
      subPath: {{ . }}
      {{- end }}
    {{- end }}
{{- if .tfserving }}
- name: export-tfserving
  image: {{ include "cellkiosk.image" (dict "root" .root "image" $v.image.gateway) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command: ["python3", "-m", "cellkiosk.cli", "export-tfserving", "/models/store", "--models-dir", "/var/lib/cellkiosk/models", "--base-path", "/models/store", "--max-batch-size", {{ $v.tfserving.maxBatchSize | quote }}]
  resources:
    {{- toYaml $v.modelStore.initResources | nindent 4 }}
  {{- include "cellkiosk.containerSecurity" .root | nindent 2 }}
  volumeMounts:
    - {name: models, mountPath: /var/lib/cellkiosk/models}
    - {name: served, mountPath: /models}
    - {name: tmp, mountPath: /tmp}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes of the model store; (dict "root" $ "tfserving" bool) */}}
{{- define "cellkiosk.modelVolumes" -}}
{{- $v := .root.Values }}
{{- if ne $v.modelStore.source "image" }}
- name: models
  emptyDir: {}
{{- if eq $v.modelStore.source "volume" }}
- name: store
  persistentVolumeClaim:
    claimName: {{ required "modelStore.volume.claimName is needed when modelStore.source is volume" $v.modelStore.volume.claimName }}
    readOnly: true
{{- end }}
{{- if .tfserving }}
- name: served
  emptyDir: {}
{{- end }}
{{- end }}
{{- end }}

{{/* The scale targets of the built-in autoscaler, as the JSON CELLKIOSK_TARGETS */}}
{{- define "cellkiosk.scaleTargets" -}}
{{- $targets := list }}
{{- $queues := list }}
{{- range $type, $c := .Values.consumers }}
{{- if $c.enabled }}
{{- $queues = append $queues $type }}
{{- $targets = append $targets (dict "deployment" (include "cellkiosk.component" (dict "root" $ "name" (printf "consumer-%s" $type))) "queues" (list $type) "items_per_replica" $c.autoscaling.itemsPerReplica "min_replicas" $c.autoscaling.minReplicas "max_replicas" $c.autoscaling.maxReplicas "idle_cooldown_s" $c.autoscaling.idleCooldownSeconds "scale_down_window_s" $.Values.autoscaling.scaleDownWindowSeconds) }}
{{- end }}
{{- end }}
{{- if .Values.tfserving.enabled }}
{{- $t := .Values.tfserving.autoscaling }}
{{- $targets = append $targets (dict "deployment" (include "cellkiosk.component" (dict "root" $ "name" "tfserving")) "queues" $queues "items_per_replica" $t.itemsPerReplica "min_replicas" $t.minReplicas "max_replicas" $t.maxReplicas "idle_cooldown_s" $t.idleCooldownSeconds "scale_down_window_s" .Values.autoscaling.scaleDownWindowSeconds) }}
{{- end }}
{{- toJson $targets }}
{{- end }}
