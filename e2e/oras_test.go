package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestORAS pushes and pulls an artifact with an artifactType, attaches an
// SBOM to it and finds the SBOM with oras discover (the referrers API, or the
// tag schema on a registry without one).
func TestORAS(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	work := t.TempDir()
	oras := lookClient(t, "oras", "HOME="+work, "DOCKER_CONFIG="+filepath.Join(work, "docker")).in(work)
	repo := repoName(t)
	ref := reg + "/" + repo + ":v1"
	payload := []byte("artifact payload " + randomHex(t, 16) + "\n")
	writeFile(t, filepath.Join(work, "payload.txt"), payload)
	sbom := []byte(`{"sbom":"` + randomHex(t, 8) + `"}`)
	writeFile(t, filepath.Join(work, "sbom.json"), sbom)
	const artifactType = "application/vnd.example.thing.v1"
	const sbomType = "application/vnd.example.sbom"
	login(t, ctx, oras, "login", plainHTTP(), "--password-stdin", reg)

	var pushed struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	}
	out := oras.run(t, ctx, "push", plainHTTP(), "--format", "json", "--artifact-type", artifactType,
		ref, "payload.txt:text/plain")
	if err := json.Unmarshal([]byte(out), &pushed); err != nil {
		t.Fatalf("oras push output %q: %v", out, err)
	}
	got, m := registryManifest(t, ctx, reg, repo, "v1")
	if got != pushed.Digest {
		t.Fatalf("registry holds %s as %s, oras pushed %s", ref, got, pushed.Digest)
	}
	if m.ArtifactType != artifactType {
		t.Errorf("manifest artifactType = %q, want %q", m.ArtifactType, artifactType)
	}

	pulled := filepath.Join(work, "pulled")
	oras.run(t, ctx, "pull", plainHTTP(), "-o", pulled, ref)
	b, err := os.ReadFile(filepath.Join(pulled, "payload.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(payload) {
		t.Fatalf("pulled payload %q, pushed %q", b, payload)
	}

	var attached struct {
		Digest string `json:"digest"`
	}
	out = oras.run(t, ctx, "attach", plainHTTP(), "--format", "json", "--artifact-type", sbomType,
		reg+"/"+repo+"@"+pushed.Digest, "sbom.json:application/json")
	if err := json.Unmarshal([]byte(out), &attached); err != nil || attached.Digest == "" {
		t.Fatalf("oras attach output %q: %v", out, err)
	}
	_, sbomManifest := registryManifest(t, ctx, reg, repo, attached.Digest)
	if sbomManifest.Subject == nil || sbomManifest.Subject.Digest != pushed.Digest {
		t.Errorf("attached manifest subject = %+v, want %s", sbomManifest.Subject, pushed.Digest)
	}

	out = oras.run(t, ctx, "discover", plainHTTP(), "--format", "json", "--artifact-type", sbomType,
		reg+"/"+repo+"@"+pushed.Digest)
	var discovered struct {
		Referrers []descriptor `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(out), &discovered); err != nil {
		t.Fatalf("oras discover output %q: %v", out, err)
	}
	if len(discovered.Referrers) != 1 || discovered.Referrers[0].Digest != attached.Digest ||
		discovered.Referrers[0].ArtifactType != sbomType {
		t.Fatalf("oras discover = %+v, want one %s referrer %s", discovered.Referrers, sbomType, attached.Digest)
	}

	pulledSBOM := filepath.Join(work, "sbom")
	oras.run(t, ctx, "pull", plainHTTP(), "-o", pulledSBOM, reg+"/"+repo+"@"+attached.Digest)
	if b, err := os.ReadFile(filepath.Join(pulledSBOM, "sbom.json")); err != nil || string(b) != string(sbom) {
		t.Fatalf("pulled sbom %q (%v), attached %q", b, err, sbom)
	}
}
