{{/* Scale up at once, down gradually (the built-in policy's rules, as HPA behavior) */}}
{{- define "cellkiosk.kedaBehavior" -}}
advanced:
  horizontalPodAutoscalerConfig:
    behavior:
      scaleUp:
        stabilizationWindowSeconds: 0
        selectPolicy: Max
        policies: [{type: Percent, value: 1000, periodSeconds: 15}, {type: Pods, value: 1000, periodSeconds: 15}]
      scaleDown:
        stabilizationWindowSeconds: {{ .Values.autoscaling.scaleDownWindowSeconds }}
        policies: [{type: Percent, value: 50, periodSeconds: {{ .Values.autoscaling.periodSeconds }}}]
{{- end }}

{{/* Two redis-streams triggers on one queue: lag (scales from zero) and pending entries */}}
{{- define "cellkiosk.kedaTriggers" -}}
{{- $common := dict "address" .address "stream" (printf "queue:%s" .queue) "consumerGroup" "consumers" "databaseIndex" (toString .db) }}
- type: redis-streams
  name: {{ .queue }}-lag
  metadata:
    {{- toYaml (merge (dict "lagCount" (toString .items) "activationLagCount" "0") $common) | nindent 4 }}
  {{- with .root.Values.autoscaling.keda.authenticationRef }}
  authenticationRef: {name: {{ . }}}
  {{- end }}
- type: redis-streams
  name: {{ .queue }}-pending
  metadata:
    {{- toYaml (merge (dict "pendingEntriesCount" (toString .items)) $common) | nindent 4 }}
  {{- with .root.Values.autoscaling.keda.authenticationRef }}
  authenticationRef: {name: {{ . }}}
  {{- end }}
{{- end }}
