package helm

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testenv/k8sschema"
)

// Values given as secrets in the "every secret given" set: none may appear
// in any rendered object but a Secret.
var sentinels = map[string]string{
	"adminPassword":                                   "sentinel-admin-Password-1",
	"secretKey":                                       "sentinel-session-secret-0123456789abcdef",
	"core.tokenKey":                                   "sentinel-token-key-PEM",
	"database.external.password":                      "sentinel-db-password",
	"redis.external.password":                         "sentinel-redis-password",
	"persistence.imageChartStorage.s3.accesskey":      "sentinel-s3-access",
	"persistence.imageChartStorage.s3.secretkey":      "sentinel-s3-secret",
	"database.external.existingSecret":                "",
	"redis.external.existingSecret":                   "",
	"persistence.imageChartStorage.s3.existingSecret": "",
}

type object = map[string]any

type valueSet struct {
	name  string
	args  []string
	check func(t *testing.T, objs []object)
}

func tools(t *testing.T) (helm, kubeconform, schemas string) {
	t.Helper()
	helm = os.Getenv("BERTH_TEST_HELM")
	if helm == "" {
		t.Skip("BERTH_TEST_HELM not set (scripts/test helm sets it)")
	}
	kubeconform = os.Getenv("BERTH_TEST_KUBECONFORM")
	spec := os.Getenv("BERTH_TEST_K8S_OPENAPI")
	if kubeconform == "" || spec == "" {
		t.Fatal("BERTH_TEST_KUBECONFORM and BERTH_TEST_K8S_OPENAPI (swagger.json) must be set with BERTH_TEST_HELM")
	}
	schemas = t.TempDir()
	n, err := k8sschema.Generate(spec, schemas)
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d schemas generated from %s", n, spec)
	}
	return helm, kubeconform, schemas
}

func TestChart(t *testing.T) {
	helm, kubeconform, schemas := tools(t)
	secretArgs := []string{"--set", "redis.type=external", "--set", "redis.external.addr=redis:6379"}
	for k, v := range sentinels {
		secretArgs = append(secretArgs, "--set", k+"="+v)
	}
	sets := []valueSet{
		{name: "defaults", check: checkSingleBinary},
		{name: "single-binary", args: []string{"-f", "berth/examples/single-binary.yaml"}, check: checkSingleBinary},
		{name: "aws-alb", args: []string{"-f", "berth/examples/aws-alb.yaml"}, check: checkAWS},
		{name: "nginx-cert-manager", args: append([]string{"-f", "berth/examples/nginx-cert-manager.yaml"}, secretArgs...), check: checkSecretsGiven},
		{name: "every option", args: append([]string{"-f", "berth/examples/aws-alb.yaml",
			"--set", "autoscaling.enabled=true", "--set", "metrics.serviceMonitor.enabled=true",
			"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress[0].to[0].ipBlock.cidr=10.0.0.0/8",
			"--set", "backup.podAnnotations.pre\\.hook\\.backup\\.velero\\.io/command=[\"/berth\"\\,\"version\"]",
			"--set", "expose.type=loadBalancer"}, secretArgs...), check: checkSecretsGiven},
	}
	for _, vs := range sets {
		t.Run(vs.name, func(t *testing.T) {
			lint := exec.Command(helm, append([]string{"lint", "--strict", "berth"}, vs.args...)...)
			if out, err := lint.CombinedOutput(); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			rendered := render(t, helm, vs.args...)
			validate(t, kubeconform, schemas, rendered)
			objs := parse(t, rendered)
			checkCommon(t, objs)
			vs.check(t, objs)
		})
	}
}

// TestValuesDocIsCurrent: docs/helm-values.md is what scripts/helm-docs
// writes from values.yaml today.
func TestValuesDocIsCurrent(t *testing.T) {
	out, err := exec.Command("go", "run", "./valuesdoc", "berth/values.yaml").Output()
	if err != nil {
		t.Fatalf("go run ./valuesdoc: %v", err)
	}
	committed, err := os.ReadFile("../../docs/helm-values.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, committed) {
		t.Error("docs/helm-values.md is stale: run scripts/helm-docs")
	}
	for _, key := range []string{"`externalURL`", "`persistence.imageChartStorage.s3.regionendpoint`", "`core.topologySpread.zone.whenUnsatisfiable`", "`database.external.existingSecret`"} {
		if !bytes.Contains(out, []byte(key)) {
			t.Errorf("the values table lacks %s", key)
		}
	}
}

// TestSchemasAreStrict: the validation above would prove nothing if an
// unknown field passed.
func TestSchemasAreStrict(t *testing.T) {
	helm, kubeconform, schemas := tools(t)
	rendered := render(t, helm, "-f", "berth/examples/aws-alb.yaml")
	for _, bad := range []struct{ from, to string }{
		{"      containers:\n", "      containres: []\n      containers:\n"},
		{"  replicas: 3\n", "  replicas: \"3\"\n"},
		{"          readOnlyRootFilesystem: true\n", "          readOnlyRootFilesystem: true\n          runAsRoot: false\n"},
	} {
		if !bytes.Contains(rendered, []byte(bad.from)) {
			t.Fatalf("rendered chart lacks %q", bad.from)
		}
		broken := bytes.Replace(rendered, []byte(bad.from), []byte(bad.to), 1)
		out, err := runKubeconform(kubeconform, schemas, broken)
		if err == nil {
			t.Errorf("kubeconform accepted a Deployment changed to %q:\n%s", bad.to, out)
		}
	}
}

// TestChartRefuses: values Berth cannot run fail at render time.
func TestChartRefuses(t *testing.T) {
	helm, _, _ := tools(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "core.replicas=3"}, "more than one replica"},
		{[]string{"--set", "autoscaling.enabled=true"}, "more than one replica"},
		{[]string{"--set", "redis.type=internal"}, "no internal Redis"},
		{[]string{"--set", "database.type=external", "--set", "database.external.host=db"}, "password or database.external.existingSecret"},
		{[]string{"--set", "persistence.imageChartStorage.type=s3"}, "bucket is required"},
		{[]string{"--set", "expose.tls.certSource=auto"}, "want secret or none"},
		{[]string{"--set", "secretKey=short"}, "at least 32"},
	} {
		cmd := exec.Command(helm, append([]string{"template", "r", "berth"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("helm template %v: err %v, output %s; want a failure naming %q", tc.args, err, out, tc.want)
		}
	}
}

func render(t *testing.T, helm string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", "r", "berth", "--namespace", "registry", "--kube-version", "1.34.4"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func runKubeconform(kubeconform, schemas string, manifests []byte) ([]byte, error) {
	cmd := exec.Command(kubeconform, "-strict", "-summary", "-output", "text",
		"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"))
	cmd.Stdin = bytes.NewReader(manifests)
	return cmd.CombinedOutput()
}

func validate(t *testing.T, kubeconform, schemas string, manifests []byte) {
	t.Helper()
	out, err := runKubeconform(kubeconform, schemas, manifests)
	if err != nil || !bytes.Contains(out, []byte("Invalid: 0, Errors: 0, Skipped: 0")) {
		t.Fatalf("kubeconform: %v\n%s", err, out)
	}
	t.Logf("kubeconform: %s", bytes.TrimSpace(out))
}

func parse(t *testing.T, manifests []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(manifests))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	if len(objs) < 5 {
		t.Fatalf("only %d objects rendered", len(objs))
	}
	return objs
}

// get walks o by keys (strings for maps, ints for lists).
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := o.(map[string]any)
			if !ok {
				return nil
			}
			o = m[k]
		case int:
			l, ok := o.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func kind(o object) string { s, _ := o["kind"].(string); return s }
func name(o object) string { s, _ := get(o, "metadata", "name").(string); return s }

func find(objs []object, k string) []object {
	var out []object
	for _, o := range objs {
		if kind(o) == k {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []object, k string) object {
	t.Helper()
	f := find(objs, k)
	if len(f) != 1 {
		t.Fatalf("%d %s objects rendered, want 1", len(f), k)
	}
	return f[0]
}

// podSpecs returns every pod template (Deployment, Job) and Pod.
func podSpecs(objs []object) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range objs {
		var spec any
		switch kind(o) {
		case "Deployment", "Job":
			spec = get(o, "spec", "template", "spec")
		case "Pod":
			spec = get(o, "spec")
		}
		if m, ok := spec.(map[string]any); ok {
			out[kind(o)+"/"+name(o)] = m
		}
	}
	return out
}

var knownEnv = func() map[string]bool {
	m := map[string]bool{
		// Not Berth settings: the Secret-held parts the kubelet expands
		// into BERTH_DATABASE_URL and BERTH_REDIS_URL.
		"DATABASE_PASSWORD": true, "REDIS_PASSWORD": true,
	}
	for _, l := range config.EnvTable() {
		n, _, _ := strings.Cut(l, "\t")
		m[n] = true
	}
	return m
}()

// secretValues are the decoded values of every rendered Secret.
func secretValues(t *testing.T, objs []object) []string {
	var out []string
	for _, s := range find(objs, "Secret") {
		data, _ := s["data"].(map[string]any)
		for k, v := range data {
			b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
			if err != nil {
				t.Fatalf("Secret %s key %s: %v", name(s), k, err)
			}
			if len(b) >= 6 { // "berth", "5432"... are no secrets; generated ones are long
				out = append(out, string(b))
			}
		}
	}
	return out
}

func checkCommon(t *testing.T, objs []object) {
	t.Helper()
	// No secret value outside a Secret: not in a ConfigMap, an env
	// literal, an annotation, an argument, anywhere.
	secrets := secretValues(t, objs)
	for _, o := range objs {
		if kind(o) == "Secret" {
			continue
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s %s holds a secret value %.12q...", kind(o), name(o), s)
			}
		}
		if bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s %s holds a private key", kind(o), name(o))
		}
	}
	// The ConfigMap sets only real Berth settings.
	cm := one(t, objs, "ConfigMap")
	for k := range cm["data"].(map[string]any) {
		if !knownEnv[k] {
			t.Errorf("ConfigMap key %s is no BERTH_* setting of internal/config", k)
		}
	}
	// Restricted pods everywhere, env names real, secrets by reference.
	specs := podSpecs(objs)
	if len(specs) == 0 {
		t.Fatal("no pod spec rendered")
	}
	for where, spec := range specs {
		if get(spec, "securityContext", "runAsNonRoot") != true || get(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: pod securityContext %v, want runAsNonRoot and seccomp RuntimeDefault", where, spec["securityContext"])
		}
		for i := range spec["containers"].([]any) {
			c := get(spec, "containers", i).(map[string]any)
			sc := c["securityContext"]
			if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false ||
				get(sc, "runAsNonRoot") != true || get(sc, "seccompProfile", "type") != "RuntimeDefault" ||
				fmt.Sprint(get(sc, "capabilities", "drop")) != "[ALL]" {
				t.Errorf("%s container %v: securityContext %v is not restricted", where, c["name"], sc)
			}
			env, _ := c["env"].([]any)
			for _, e := range env {
				n := fmt.Sprint(get(e, "name"))
				if !knownEnv[n] {
					t.Errorf("%s: env %s is no BERTH_* setting of internal/config", where, n)
				}
				if strings.HasSuffix(n, "PASSWORD") || strings.HasSuffix(n, "ACCESSKEY") || strings.HasSuffix(n, "SECRETKEY") {
					if get(e, "valueFrom", "secretKeyRef", "name") == nil {
						t.Errorf("%s: env %s is not read from a Secret", where, n)
					}
				}
			}
		}
	}
	dep := one(t, objs, "Deployment")
	c := get(dep, "spec", "template", "spec", "containers", 0)
	if get(c, "livenessProbe", "httpGet", "path") != "/livez" || get(c, "readinessProbe", "httpGet", "path") != "/readyz" || get(c, "startupProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("probes: liveness %v, readiness %v, startup %v", get(c, "livenessProbe"), get(c, "readinessProbe"), get(c, "startupProbe"))
	}
	ann, _ := get(dep, "spec", "template", "metadata", "annotations").(map[string]any)
	if ann["checksum/config"] == nil || ann["checksum/secret"] == nil {
		t.Errorf("pod annotations %v lack checksum/config and checksum/secret", ann)
	}
	if len(find(objs, "Pod")) != 1 || get(find(objs, "Pod")[0], "metadata", "annotations", "helm.sh/hook") != "test" {
		t.Error("no helm test hook Pod")
	}
}

func env(t *testing.T, objs []object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range one(t, objs, "ConfigMap")["data"].(map[string]any) {
		out[k] = fmt.Sprint(v)
	}
	dep := one(t, objs, "Deployment")
	list, _ := get(dep, "spec", "template", "spec", "containers", 0, "env").([]any)
	for _, e := range list {
		if v, ok := get(e, "value").(string); ok {
			out[fmt.Sprint(get(e, "name"))] = v
		} else {
			out[fmt.Sprint(get(e, "name"))] = "(from a Secret)"
		}
	}
	return out
}

func checkSingleBinary(t *testing.T, objs []object) {
	dep := one(t, objs, "Deployment")
	if r := get(dep, "spec", "replicas"); r != 1 {
		t.Errorf("replicas %v, want 1", r)
	}
	if s := get(dep, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("strategy %v, want Recreate", s)
	}
	pvc := one(t, objs, "PersistentVolumeClaim")
	if get(pvc, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
		t.Error("the data claim is not kept on uninstall")
	}
	if get(dep, "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName") != name(pvc) {
		t.Errorf("the data volume is not the claim %s", name(pvc))
	}
	e := env(t, objs)
	if _, ok := e["BERTH_DATABASE_URL"]; ok {
		t.Error("single-binary mode sets BERTH_DATABASE_URL (want SQLite in the data dir)")
	}
	if e["BERTH_DATA_DIR"] != "/data" || e["BERTH_STORAGE_TYPE"] != "filesystem" {
		t.Errorf("env %v", e)
	}
	if len(find(objs, "PodDisruptionBudget")) != 0 || len(find(objs, "Job")) != 0 {
		t.Error("single-binary mode renders a PodDisruptionBudget or a migration Job")
	}
}

func checkHA(t *testing.T, objs []object) {
	dep := one(t, objs, "Deployment")
	if get(dep, "spec", "strategy", "type") != "RollingUpdate" || get(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable") != 0 {
		t.Errorf("strategy %v, want RollingUpdate with maxUnavailable 0", get(dep, "spec", "strategy"))
	}
	if len(find(objs, "PersistentVolumeClaim")) != 0 {
		t.Error("HA mode renders a PersistentVolumeClaim")
	}
	job := one(t, objs, "Job")
	if get(job, "metadata", "annotations", "helm.sh/hook") != "pre-install,pre-upgrade" ||
		fmt.Sprint(get(job, "spec", "template", "spec", "containers", 0, "args")) != "[migrate]" {
		t.Errorf("migration Job %v", job)
	}
	e := env(t, objs)
	if !strings.HasPrefix(e["BERTH_DATABASE_URL"], "postgres://") || !strings.Contains(e["BERTH_DATABASE_URL"], "$(DATABASE_PASSWORD)") {
		t.Errorf("BERTH_DATABASE_URL %q: want postgres://...$(DATABASE_PASSWORD)...", e["BERTH_DATABASE_URL"])
	}
	if e["BERTH_STORAGE_TYPE"] != "s3" || e["BERTH_TOKEN_KEY_FILE"] == "" {
		t.Errorf("env %v", e)
	}
}

func checkSecretsGiven(t *testing.T, objs []object) {
	checkHA(t, objs)
	// Every given secret is in a Secret (and, by checkCommon, nowhere else).
	all := strings.Join(secretValues(t, objs), "\n")
	for k, v := range sentinels {
		if v != "" && !strings.Contains(all, v) {
			t.Errorf("%s's value is in no Secret", k)
		}
	}
	e := env(t, objs)
	if !strings.Contains(e["BERTH_REDIS_URL"], "$(REDIS_PASSWORD)") || e["BERTH_STORAGE_S3_SECRETKEY_FILE"] == "" {
		t.Errorf("env %v", e)
	}
}

func checkAWS(t *testing.T, objs []object) {
	checkHA(t, objs)
	dep := one(t, objs, "Deployment")
	if r := get(dep, "spec", "replicas"); r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(sel any) bool {
		m, ok := get(sel, "matchLabels").(map[string]any)
		if !ok || len(m) == 0 {
			return false
		}
		for k, v := range m {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	var zone, node bool
	tsc, _ := get(dep, "spec", "template", "spec", "topologySpreadConstraints").([]any)
	for _, c := range tsc {
		switch {
		case get(c, "topologyKey") == "topology.kubernetes.io/zone" && get(c, "whenUnsatisfiable") == "DoNotSchedule" && get(c, "maxSkew") == 1 && matches(get(c, "labelSelector")):
			zone = true
		case get(c, "topologyKey") == "kubernetes.io/hostname" && matches(get(c, "labelSelector")):
			node = true
		}
	}
	if !zone || !node {
		t.Errorf("topologySpreadConstraints %v: want the 3 replicas spread over zones (DoNotSchedule) and nodes", tsc)
	}
	pdb := one(t, objs, "PodDisruptionBudget")
	if !matches(get(pdb, "spec", "selector")) || get(pdb, "spec", "maxUnavailable") != 1 {
		t.Errorf("PodDisruptionBudget %v: want maxUnavailable 1 over the server pods", pdb["spec"])
	}
	ing := one(t, objs, "Ingress")
	ann := get(ing, "metadata", "annotations").(map[string]any)
	if get(ing, "spec", "ingressClassName") != "alb" || ann["alb.ingress.kubernetes.io/scheme"] != "internet-facing" ||
		ann["alb.ingress.kubernetes.io/target-type"] != "ip" || ann["alb.ingress.kubernetes.io/certificate-arn"] == nil ||
		ann["alb.ingress.kubernetes.io/ssl-redirect"] != "443" {
		t.Errorf("Ingress %v", ing)
	}
	if get(ing, "spec", "tls") != nil {
		t.Error("the ALB example names an ingress TLS Secret (ACM terminates TLS)")
	}
	e := env(t, objs)
	if e["BERTH_STORAGE_S3_REGIONENDPOINT"] != "http://minio.minio.svc.cluster.local:9000" || e["BERTH_STORAGE_S3_DISABLEREDIRECT"] != "true" ||
		e["BERTH_STORAGE_S3_FORCEPATHSTYLE"] != "true" || e["BERTH_STORAGE_S3_ACCESSKEY"] != "(from a Secret)" {
		t.Errorf("S3 settings %v", e)
	}
	if !slices.Contains([]string{"require", "verify-full"}, strings.SplitN(e["BERTH_DATABASE_URL"], "sslmode=", 2)[1]) {
		t.Errorf("BERTH_DATABASE_URL %q: want TLS to the database", e["BERTH_DATABASE_URL"])
	}
}
