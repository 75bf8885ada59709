package e2e

import (
	"path/filepath"
	"testing"
)

// TestSkopeoCopy copies an OCI layout into the registry and back out with
// skopeo, and checks that the manifest digest and the files survive.
func TestSkopeoCopy(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	skopeo := lookClient(t, "skopeo", "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
	repo := repoName(t)
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	img := writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from skopeo\n")})
	login(t, ctx, skopeo, "login", tlsVerify(""), "--password-stdin", reg)

	skopeo.run(t, ctx, "copy", tlsVerify("dest-"), "oci:"+src+":v1", "docker://"+reg+"/"+repo+":v1")

	if got, _ := registryManifest(t, ctx, reg, repo, "v1"); got != img.Digest {
		t.Fatalf("registry holds %s:v1 as %s, pushed %s", repo, got, img.Digest)
	}
	raw := skopeo.run(t, ctx, "inspect", "--raw", tlsVerify(""), "docker://"+reg+"/"+repo+":v1")
	if got := sha256Digest([]byte(raw)); got != img.Digest {
		t.Fatalf("skopeo inspect --raw: manifest digest %s, pushed %s", got, img.Digest)
	}

	skopeo.run(t, ctx, "copy", tlsVerify("src-"), "docker://"+reg+"/"+repo+"@"+img.Digest, "oci:"+dst+":out")

	if got := layoutManifest(t, dst, "out").Digest; got != img.Digest {
		t.Fatalf("pulled manifest digest %s, pushed %s", got, img.Digest)
	}
	checkFiles(t, layoutFiles(t, dst, img.Digest), img.Files)
}
