package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var helmDigestLine = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})$`)

// TestHelm packages a chart, pushes it over oci:// and pulls it back, byte
// for byte.
func TestHelm(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	work := t.TempDir()
	helm := lookClient(t, "helm",
		"HOME="+work,
		"HELM_CONFIG_HOME="+filepath.Join(work, "config"),
		"HELM_CACHE_HOME="+filepath.Join(work, "cache"),
		"HELM_DATA_HOME="+filepath.Join(work, "data"),
		"HELM_REGISTRY_CONFIG="+filepath.Join(work, "config", "registry.json"),
	).in(work)
	repo := repoName(t)
	const chart, version = "e2echart", "0.1.0"

	login(t, ctx, helm, "registry", "login", plainHTTP(), "--password-stdin", reg)
	helm.run(t, ctx, "create", chart)
	// Make the chart unique so the push really writes new content.
	writeFile(t, filepath.Join(work, chart, "templates", "NOTES.txt"), []byte("e2e "+randomHex(t, 16)+"\n"))
	helm.run(t, ctx, "package", chart, "--version", version, "-d", filepath.Join(work, "pkg"))
	tgz := filepath.Join(work, "pkg", chart+"-"+version+".tgz")
	wantFile := fileDigest(t, tgz)

	// helm push reports the digest on stderr.
	_, stderr, err := helm.exec(ctx, "push", tgz, "oci://"+reg+"/"+repo, plainHTTP())
	if err != nil {
		t.Fatalf("helm push %s oci://%s/%s: %v\n%s", tgz, reg, repo, err, stderr)
	}
	t.Logf("helm push: %s", strings.TrimSpace(stderr))
	m := helmDigestLine.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("helm push printed no digest:\n%s", stderr)
	}
	got, man := registryManifest(t, ctx, reg, repo+"/"+chart, version)
	if got != m[1] {
		t.Fatalf("registry holds %s/%s:%s as %s, helm pushed %s", repo, chart, version, got, m[1])
	}
	if man.Config == nil || man.Config.MediaType != "application/vnd.cncf.helm.config.v1+json" {
		t.Errorf("chart manifest config = %+v, want a helm config", man.Config)
	}

	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	helm.run(t, ctx, "pull", "oci://"+reg+"/"+repo+"/"+chart, "--version", version, plainHTTP(), "-d", out)
	if got := fileDigest(t, filepath.Join(out, chart+"-"+version+".tgz")); got != wantFile {
		t.Fatalf("pulled chart %s, pushed %s", got, wantFile)
	}
}
