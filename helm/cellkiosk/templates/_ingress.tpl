{{/* An Ingress with TLS and a body size for large uploads: (dict "root" $ "name" N "ingress" V "port" P) */}}
{{- define "cellkiosk.ingress" -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .name }}
  labels:
    {{- include "cellkiosk.labels" (dict "root" .root "component" (trimPrefix (printf "%s-" (include "cellkiosk.fullname" .root)) .name)) | nindent 4 }}
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: {{ .ingress.bodySize | quote }}
    nginx.ingress.kubernetes.io/proxy-request-buffering: "off"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
    {{- with .ingress.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if .ingress.tls.enabled }}
  tls:
    - hosts: [{{ .ingress.host | quote }}]
      secretName: {{ default (printf "%s-tls" .name) .ingress.tls.secretName }}
  {{- end }}
  rules:
    - host: {{ .ingress.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .name }}
                port: {name: {{ .port }}}
{{- end }}
