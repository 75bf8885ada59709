package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegctl copies an image into the registry and across repositories with
// regctl, then puts an artifact with a subject and lists it as a referrer.
func TestRegctl(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	work := t.TempDir()
	regctl := lookClient(t, "regctl", "HOME="+work, "REGCTL_CONFIG="+filepath.Join(work, "regctl.json")).in(work)
	repo, repo2 := repoName(t), repoName(t, "copy")
	src := filepath.Join(work, "src")
	img := writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from regctl\n")})

	regctl.run(t, ctx, "registry", "set", "--tls", regctlTLS(), reg)
	login(t, ctx, regctl, "registry", "login", "--pass-stdin", reg)
	regctl.run(t, ctx, "image", "copy", "ocidir://"+src+":v1", reg+"/"+repo+":v1")
	if got, _ := registryManifest(t, ctx, reg, repo, "v1"); got != img.Digest {
		t.Fatalf("registry holds %s:v1 as %s, pushed %s", repo, got, img.Digest)
	}
	regctl.run(t, ctx, "image", "copy", reg+"/"+repo+":v1", reg+"/"+repo2+":v2")
	if got := strings.TrimSpace(regctl.run(t, ctx, "image", "digest", reg+"/"+repo2+":v2")); got != img.Digest {
		t.Fatalf("regctl image digest of the copy: %s, want %s", got, img.Digest)
	}
	dst := filepath.Join(work, "dst")
	regctl.run(t, ctx, "image", "copy", reg+"/"+repo2+":v2", "ocidir://"+dst+":v2")
	if got := layoutManifest(t, dst, "v2").Digest; got != img.Digest {
		t.Fatalf("regctl pulled %s, pushed %s", got, img.Digest)
	}
	checkFiles(t, layoutFiles(t, dst, img.Digest), img.Files)

	const sbomType = "application/vnd.example.sbom"
	sbom := []byte(`{"sbom":"` + randomHex(t, 8) + `"}`)
	writeFile(t, filepath.Join(work, "sbom.json"), sbom)
	regctl.run(t, ctx, "artifact", "put", "--subject", reg+"/"+repo+":v1", "--artifact-type", sbomType,
		"--file", "sbom.json", "--file-media-type", "application/json")

	out := regctl.run(t, ctx, "artifact", "list", "--format", "{{json .Descriptors}}", reg+"/"+repo+"@"+img.Digest)
	var referrers []descriptor
	if err := json.Unmarshal([]byte(out), &referrers); err != nil {
		t.Fatalf("regctl artifact list output %q: %v", out, err)
	}
	if len(referrers) != 1 || referrers[0].ArtifactType != sbomType {
		t.Fatalf("regctl artifact list = %+v, want one %s", referrers, sbomType)
	}
	_, m := registryManifest(t, ctx, reg, repo, referrers[0].Digest)
	if m.Subject == nil || m.Subject.Digest != img.Digest {
		t.Errorf("referrer %s has subject %+v, want %s", referrers[0].Digest, m.Subject, img.Digest)
	}
	got := strings.TrimSpace(regctl.run(t, ctx, "artifact", "get", reg+"/"+repo+"@"+referrers[0].Digest))
	if got != string(sbom) {
		t.Errorf("regctl artifact get = %q, want %q", got, sbom)
	}
}
