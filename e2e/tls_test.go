package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testenv"
	"github.com/berth-registry/berth/internal/testenv/testca"
)

// TestTLSWrongCARefused: with verification on, every client refuses the
// registry when it trusts another CA than the one that signed the
// registry's certificate. Runs in scripts/test's tls step (HTTPS).
func TestTLSWrongCARefused(t *testing.T) {
	testenv.Require(t, "BERTH_TEST_REGISTRY_CA")
	reg, ctx := setup(t)
	work := t.TempDir()
	wrong, err := testca.New("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(work, "wrong-ca.pem")
	writeFile(t, wrongFile, wrong.CertPEM())
	writeFile(t, filepath.Join(work, "auth.json"), []byte("{}"))
	ref := reg + "/" + repoPrefix + "tls-wrong-ca"
	env := []string{"HOME=" + work, "DOCKER_CONFIG=" + filepath.Join(work, "docker"), "SSL_CERT_FILE=" + wrongFile,
		"REGISTRY_AUTH_FILE=" + filepath.Join(work, "auth.json"), "REGCTL_CONFIG=" + filepath.Join(work, "regctl.json"),
		"HELM_REGISTRY_CONFIG=" + filepath.Join(work, "helm.json")}
	tests := []struct {
		client string
		env    []string
		args   []string
	}{
		{client: "skopeo", args: []string{"inspect", "--raw", "--tls-verify=true", "docker://" + ref + ":v1"}},
		{client: "podman", env: containersEnv(t), args: []string{"pull", "--tls-verify=true", ref + ":v1"}},
		{client: "crane", args: []string{"ls", ref}},
		{client: "oras", args: []string{"repo", "tags", ref}},
		{client: "helm", args: []string{"pull", "oci://" + ref, "--version", "1.0.0", "-d", work}},
		// regctl pings the registry when told to use TLS for it, and fails there.
		{client: "regctl", args: []string{"registry", "set", "--tls", "enabled", reg}},
		{client: "cosign", args: []string{"triangulate", ref + ":v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			c := lookClient(t, tt.client, append(tt.env, env...)...).in(work)
			stdout, stderr, err := c.exec(ctx, tt.args...)
			if err == nil {
				t.Fatalf("%s %s succeeded while trusting another CA:\n%s", tt.client, strings.Join(tt.args, " "), stdout)
			}
			out := strings.ToLower(stdout + stderr)
			if !strings.Contains(out, "certificate") && !strings.Contains(out, "x509") {
				t.Errorf("%s failed, but not for the certificate:\n%s", tt.client, stderr)
			}
		})
	}
}
