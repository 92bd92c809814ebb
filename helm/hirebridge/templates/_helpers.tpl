{{/*
Names and labels.
*/}}
{{- define "hirebridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hirebridge.fullname" -}}
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

{{/* A name derived from the fullname: <fullname>-<suffix>, at most 63 characters. */}}
{{- define "hirebridge.suffixed" -}}
{{- $full := include "hirebridge.fullname" .root }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .suffix)))) .suffix | trimAll "-" }}
{{- end }}

{{- define "hirebridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "hirebridge.labels" -}}
helm.sh/chart: {{ include "hirebridge.chart" . }}
{{ include "hirebridge.selectorLabels" . }}
app.kubernetes.io/version: {{ include "hirebridge.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hirebridge
{{- end }}

{{/* The release's pods: the server's and the migration Job's. */}}
{{- define "hirebridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hirebridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server's pods only (the Deployment, Service, PodDisruptionBudget). */}}
{{- define "hirebridge.serverSelectorLabels" -}}
{{ include "hirebridge.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "hirebridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hirebridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hirebridge.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* repository:tag, repository@digest when a digest is given (the tag then only documents). */}}
{{- define "hirebridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "hirebridge.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Paths inside the container.
*/}}
{{- define "hirebridge.configDir" -}}/etc/hirebridge/config{{- end }}
{{- define "hirebridge.configPath" -}}/etc/hirebridge/config/hirebridge.yaml{{- end }}
{{- define "hirebridge.rulesDir" -}}/etc/hirebridge/rules{{- end }}
{{- define "hirebridge.rulesPath" -}}/etc/hirebridge/rules/rules.yaml{{- end }}
{{- define "hirebridge.secretsDir" -}}/var/run/secrets/hirebridge{{- end }}
{{- define "hirebridge.dataDir" -}}/var/lib/hirebridge{{- end }}
{{- define "hirebridge.defaultSqliteUrl" -}}sqlite:///var/lib/hirebridge/hirebridge.db{{- end }}

{{/*
The database mode: "postgres" when database.existingSecret is set or database.url is a
postgres:// URL, else "sqlite" (the default, with the embedded database on the data volume).
*/}}
{{- define "hirebridge.databaseMode" -}}
{{- $url := .Values.database.url | default "" }}
{{- if or .Values.database.existingSecret (regexMatch "^postgres(ql)?://" $url) }}postgres{{ else }}sqlite{{ end }}
{{- end }}

{{- define "hirebridge.isPostgres" -}}
{{- if eq (include "hirebridge.databaseMode" .) "postgres" }}true{{ end }}
{{- end }}

{{- define "hirebridge.sqliteUrl" -}}
{{- .Values.database.url | default (include "hirebridge.defaultSqliteUrl" .) }}
{{- end }}

{{/* The replica count the release runs with (the HPA's minimum when autoscaling). */}}
{{- define "hirebridge.replicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
Every secret hirebridge reads as a file, as {"items": [...]}, each item:
  id             the key in the chart-created Secret (when the chart creates it)
  path           the file under /var/run/secrets/hirebridge
  configKey      the dotted hirebridge key that names the file (`…_file`)
  existingSecret the Secret to read it from ("" when the chart creates it from `value`)
  existingKey    the key in existingSecret
  value          the plain value (quick tries only)
The single list behind the chart's Secret, the projected volume and the config keys.
*/}}
{{- define "hirebridge.secretItems" -}}
{{- $items := list }}
{{- if include "hirebridge.isPostgres" . }}
{{- $items = append $items (dict "id" "database-url" "path" "database/url" "configKey" "database_url_file" "existingSecret" .Values.database.existingSecret "existingKey" .Values.database.existingSecretKey "value" (.Values.database.url | default "")) }}
{{- end }}
{{- $ct := .Values.connecteam }}
{{- if or (and $ct.existingSecret (not $ct.oauthClientSecretKey)) $ct.apiKey }}
{{- $items = append $items (dict "id" "connecteam-api-key" "path" "connecteam/api-key" "configKey" "connecteam.api_key_file" "existingSecret" $ct.existingSecret "existingKey" $ct.apiKeyKey "value" ($ct.apiKey | default "")) }}
{{- end }}
{{- if or (and $ct.existingSecret $ct.oauthClientSecretKey) $ct.oauthClientSecret }}
{{- $items = append $items (dict "id" "connecteam-oauth-client-secret" "path" "connecteam/oauth-client-secret" "configKey" "connecteam.oauth.client_secret_file" "existingSecret" $ct.existingSecret "existingKey" $ct.oauthClientSecretKey "value" ($ct.oauthClientSecret | default "")) }}
{{- end }}
{{- $jwt := .Values.admin.jwt }}
{{- if or $jwt.existingSecret $jwt.hs256Secret }}
{{- $items = append $items (dict "id" "admin-jwt-hs256-secret" "path" "admin/jwt-hs256-secret" "configKey" "admin.jwt.hs256_secret_file" "existingSecret" $jwt.existingSecret "existingKey" $jwt.hs256SecretKey "value" ($jwt.hs256Secret | default "")) }}
{{- end }}
{{- $configSources := (.Values.config | default dict).sources | default dict }}
{{- range $name, $s := .Values.sources }}
{{- $s = $s | default dict }}
{{- $src := get $configSources $name | default dict }}
{{- $signingKey := include "hirebridge.sourceSigningKey" (dict "name" $name "source" $src) }}
{{- if and $signingKey (or $s.existingSecret $s.secret) }}
{{- $id := printf "source-%s-secret" $name }}
{{- $items = append $items (dict "id" $id "path" (printf "sources/%s/secret" $name) "configKey" (printf "sources.%s.%s" $name $signingKey) "existingSecret" ($s.existingSecret | default "") "existingKey" ($s.secretKey | default $id) "value" ($s.secret | default "")) }}
{{- end }}
{{- if or (and $s.existingSecret $s.apiTokenKey) $s.apiToken }}
{{- $items = append $items (dict "id" (printf "source-%s-api-token" $name) "path" (printf "sources/%s/api-token" $name) "configKey" (printf "sources.%s.api.token_file" $name) "existingSecret" ($s.existingSecret | default "") "existingKey" ($s.apiTokenKey | default "") "value" ($s.apiToken | default "")) }}
{{- end }}
{{- if or (and $s.existingSecret $s.apiAccountTokenKey) $s.apiAccountToken }}
{{- $items = append $items (dict "id" (printf "source-%s-api-account-token" $name) "path" (printf "sources/%s/api-account-token" $name) "configKey" (printf "sources.%s.api.account_token_file" $name) "existingSecret" ($s.existingSecret | default "") "existingKey" ($s.apiAccountTokenKey | default "") "value" ($s.apiAccountToken | default "")) }}
{{- end }}
{{- end }}
{{- dict "items" $items | toJson }}
{{- end }}

{{/*
The key (below sources.<name>) that names a source's signing-secret file: `secret_file` for the
vendor kinds, `auth.<mode>.secret_file` (or `token_file`, `hs256_secret_file`) for a generic
source by its auth mode, "" for kinds that take no secret (salesforce, generic with `none`).
*/}}
{{- define "hirebridge.sourceSigningKey" -}}
{{- $kind := .source.kind | default "" }}
{{- if eq $kind "generic" }}
{{- $auth := .source.auth | default dict }}
{{- if hasKey $auth "standard_webhooks" }}auth.standard_webhooks.secret_file
{{- else if hasKey $auth "hmac_sha256" }}auth.hmac_sha256.secret_file
{{- else if hasKey $auth "bearer" }}auth.bearer.token_file
{{- else if hasKey $auth "jwt" }}auth.jwt.hs256_secret_file
{{- end }}
{{- else if and $kind (ne $kind "salesforce") }}secret_file
{{- end }}
{{- end }}

{{/* The name of the Secret the chart creates. */}}
{{- define "hirebridge.secretName" -}}
{{- include "hirebridge.fullname" . }}
{{- end }}

{{/* True when the chart creates a Secret (some item has no existingSecret). */}}
{{- define "hirebridge.createsSecret" -}}
{{- range (include "hirebridge.secretItems" . | fromJson).items }}
{{- if not .existingSecret }}true{{ end }}
{{- end }}
{{- end }}

{{/* The chart Secret's data: id -> base64 value, for the items the chart creates. */}}
{{- define "hirebridge.secretData" -}}
{{- range (include "hirebridge.secretItems" . | fromJson).items }}
{{- if not .existingSecret }}
{{ .id }}: {{ .value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The projected volume of every secret file. Takes (dict "root" $ "secretName" NAME): NAME is
the chart-created Secret to read from (the migration hook reads its own copy).
*/}}
{{- define "hirebridge.secretsVolume" -}}
{{- $items := (include "hirebridge.secretItems" .root | fromJson).items }}
{{- if $items }}
- name: secrets
  projected:
    defaultMode: 288  # 0440: read for the owner and the fsGroup
    sources:
      {{- range $items }}
      - secret:
          name: {{ .existingSecret | default $.secretName }}
          items:
            - key: {{ if .existingSecret }}{{ .existingKey }}{{ else }}{{ .id }}{{ end }}
              path: {{ .path }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
hirebridge.yaml: `.Values.config` with what the chart sets merged over it (listen, rules_file,
the database URL and every secret's `…_file`).
*/}}
{{- define "hirebridge.configYaml" -}}
{{- $chart := dict "listen" "0.0.0.0:8080" "rules_file" (include "hirebridge.rulesPath" .) }}
{{- if .Values.metrics.port }}
{{- $_ := set $chart "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- end }}
{{- if not (include "hirebridge.isPostgres" .) }}
{{- $_ := set $chart "database_url" (include "hirebridge.sqliteUrl" .) }}
{{- end }}
{{- range (include "hirebridge.secretItems" . | fromJson).items }}
{{- $node := $chart }}
{{- $segments := splitList "." .configKey }}
{{- range initial $segments }}
{{- if not (kindIs "map" (get $node .)) }}
{{- $_ := set $node . dict }}
{{- end }}
{{- $node = get $node . }}
{{- end }}
{{- $_ := set $node (last $segments) (printf "%s/%s" (include "hirebridge.secretsDir" $) .path) }}
{{- end }}
{{- $merged := mustMergeOverwrite (deepCopy (.Values.config | default dict)) $chart }}
{{- toYaml $merged }}
{{- end }}

{{/* The rule table's text: a string as given (line numbers in errors match), a map as YAML. */}}
{{- define "hirebridge.rulesYaml" -}}
{{- if kindIs "string" .Values.rules }}
{{- .Values.rules }}
{{- else }}
{{- toYaml .Values.rules }}
{{- end }}
{{- end }}

{{/* The environment both the server and the migration Job get. */}}
{{- define "hirebridge.env" -}}
# The image sets HIREBRIDGE__DATABASE_URL; hirebridge.yaml is the one place the URL is given.
- name: HIREBRIDGE__DATABASE_URL
  value: "null"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod's volumes for the config, the secret files and /tmp (server and Job). */}}
{{- define "hirebridge.commonVolumeMounts" -}}
- name: config
  mountPath: {{ include "hirebridge.configDir" . }}
  readOnly: true
{{- if (include "hirebridge.secretItems" . | fromJson).items }}
- name: secrets
  mountPath: {{ include "hirebridge.secretsDir" . }}
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end }}
