{{/* Names and labels. */}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "berth.fullname" -}}
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

{{/* The server pods; the migration Job's and helm test's pods carry
another component, so no Service, budget or spread counts them. */}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "berth.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "berth.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "berth.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "berth.tag" .) -}}
{{- end -}}

{{- define "berth.serviceName" -}}
{{- default (include "berth.fullname" .) .Values.expose.clusterIP.name -}}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Single-binary mode: SQLite or blobs on the data volume, so one replica
and a Recreate rollout. */}}
{{- define "berth.singleBinary" -}}
{{- if or (eq .Values.database.type "internal") (eq .Values.persistence.imageChartStorage.type "filesystem") -}}true{{- end -}}
{{- end -}}

{{- define "berth.replicas" -}}
{{- if include "berth.singleBinary" . -}}1{{- else -}}{{ .Values.core.replicas }}{{- end -}}
{{- end -}}

{{/* A value of the chart's own Secret: the given one, else the one the
release already has (so generated secrets survive upgrades), else a new
one from $gen. Arguments: (list $ "key" "given" "gen"). */}}
{{- define "berth.secretValue" -}}
{{- $ := index . 0 -}}
{{- $key := index . 1 -}}
{{- $given := index . 2 -}}
{{- $gen := index . 3 -}}
{{- if $given -}}
{{- $given | b64enc -}}
{{- else -}}
{{- $old := lookup "v1" "Secret" $.Release.Namespace (include "berth.fullname" $) -}}
{{- if and $old $old.data (hasKey $old.data $key) -}}
{{- index $old.data $key -}}
{{- else -}}
{{- $gen | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Secret names and keys: the user's existing Secret or the chart's. */}}
{{- define "berth.adminSecret" -}}{{ default (include "berth.fullname" .) .Values.existingSecretAdminPassword }}{{- end -}}
{{- define "berth.adminKey" -}}{{ if .Values.existingSecretAdminPassword }}{{ .Values.existingSecretAdminPasswordKey }}{{ else }}BERTH_ADMIN_PASSWORD{{ end }}{{- end -}}
{{- define "berth.sessionSecret" -}}{{ default (include "berth.fullname" .) .Values.existingSecretSecretKey }}{{- end -}}
{{- define "berth.tokenSecret" -}}{{ default (include "berth.fullname" .) .Values.core.secretName }}{{- end -}}
{{- define "berth.dbSecret" -}}{{ default (include "berth.fullname" .) .Values.database.external.existingSecret }}{{- end -}}
{{- define "berth.redisSecret" -}}{{ default (include "berth.fullname" .) .Values.redis.external.existingSecret }}{{- end -}}
{{- define "berth.s3Secret" -}}{{ default (include "berth.fullname" .) .Values.persistence.imageChartStorage.s3.existingSecret }}{{- end -}}

{{- define "berth.s3Keys" -}}
{{- $s3 := .Values.persistence.imageChartStorage.s3 -}}
{{- if and (eq .Values.persistence.imageChartStorage.type "s3") (or $s3.existingSecret $s3.accesskey) -}}true{{- end -}}
{{- end -}}

{{- define "berth.redisPassword" -}}
{{- if and (eq .Values.redis.type "external") (or .Values.redis.external.existingSecret .Values.redis.external.password) -}}true{{- end -}}
{{- end -}}

{{/* Environment shared by the server and the migration Job: the database
URL, built by the kubelet from a password it reads from a Secret (the
$(DATABASE_PASSWORD) reference), so that no secret is an env literal.
Arguments: (dict "root" $ "secret" NAME). */}}
{{- define "berth.databaseEnv" -}}
{{- $ := .root -}}
{{- if eq $.Values.database.type "external" }}
{{- $db := $.Values.database.external }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: password
- name: BERTH_DATABASE_URL
  value: {{ printf "postgres://%s:$(DATABASE_PASSWORD)@%s:%v/%s?sslmode=%s" (urlquery $db.username) $db.host $db.port $db.coreDatabase $db.sslmode | quote }}
{{- end }}
{{- end -}}

{{/* Checks of the values: what Berth cannot run. */}}
{{- define "berth.validate" -}}
{{- $v := .Values -}}
{{- if not (has $v.database.type (list "internal" "external")) -}}
{{- fail (printf "database.type %q: want internal (SQLite) or external (PostgreSQL)" $v.database.type) -}}
{{- end -}}
{{- if not (has $v.redis.type (list "none" "external")) -}}
{{- fail (printf "redis.type %q: want none or external (Berth has no internal Redis)" $v.redis.type) -}}
{{- end -}}
{{- if not (has $v.persistence.imageChartStorage.type (list "filesystem" "s3")) -}}
{{- fail (printf "persistence.imageChartStorage.type %q: want filesystem or s3" $v.persistence.imageChartStorage.type) -}}
{{- end -}}
{{- if not (has $v.expose.type (list "ingress" "clusterIP" "nodePort" "loadBalancer")) -}}
{{- fail (printf "expose.type %q: want ingress, clusterIP, nodePort or loadBalancer" $v.expose.type) -}}
{{- end -}}
{{- if and (eq $v.expose.type "ingress") $v.expose.tls.enabled (not (has $v.expose.tls.certSource (list "secret" "none"))) -}}
{{- fail (printf "expose.tls.certSource %q: want secret or none (use cert-manager for generated certificates)" $v.expose.tls.certSource) -}}
{{- end -}}
{{- if and (include "berth.singleBinary" .) (or (gt (int $v.core.replicas) 1) $v.autoscaling.enabled) -}}
{{- fail "more than one replica (core.replicas, autoscaling) needs database.type external and persistence.imageChartStorage.type s3: SQLite and the data volume belong to one pod" -}}
{{- end -}}
{{- if and (eq $v.database.type "external") (not $v.database.external.host) -}}
{{- fail "database.external.host is required with database.type external" -}}
{{- end -}}
{{- if and (eq $v.database.type "external") (not $v.database.external.existingSecret) (not $v.database.external.password) -}}
{{- fail "database.external.password or database.external.existingSecret is required" -}}
{{- end -}}
{{- if and (eq $v.persistence.imageChartStorage.type "s3") (not $v.persistence.imageChartStorage.s3.bucket) -}}
{{- fail "persistence.imageChartStorage.s3.bucket is required with type s3" -}}
{{- end -}}
{{- if and (eq $v.redis.type "external") (not $v.redis.external.addr) -}}
{{- fail "redis.external.addr is required with redis.type external" -}}
{{- end -}}
{{- if and $v.secretKey (lt (len $v.secretKey) 32) -}}
{{- fail "secretKey must be at least 32 characters" -}}
{{- end -}}
{{- end -}}

{{/* The server's env entries besides the ConfigMap: secrets by reference. */}}
{{- define "berth.env" -}}
{{- $ := . -}}
{{- include "berth.databaseEnv" (dict "root" $ "secret" (include "berth.dbSecret" .)) | nindent 0 }}
{{- if include "berth.s3Keys" . }}
- name: BERTH_STORAGE_S3_ACCESSKEY
  valueFrom:
    secretKeyRef:
      name: {{ include "berth.s3Secret" . }}
      key: REGISTRY_STORAGE_S3_ACCESSKEY
{{- end }}
{{- if eq $.Values.redis.type "external" }}
{{- $r := $.Values.redis.external }}
{{- if include "berth.redisPassword" . }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "berth.redisSecret" . }}
      key: REDIS_PASSWORD
- name: BERTH_REDIS_URL
  value: {{ printf "%s://%s:$(REDIS_PASSWORD)@%s/%s" (ternary "rediss" "redis" $r.tlsOptions.enable) (urlquery $r.username) $r.addr $r.coreDatabaseIndex | quote }}
{{- else }}
- name: BERTH_REDIS_URL
  value: {{ printf "%s://%s/%s" (ternary "rediss" "redis" $r.tlsOptions.enable) $r.addr $r.coreDatabaseIndex | quote }}
{{- end }}
{{- end }}
{{- with $.Values.core.extraEnvVars }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end -}}
