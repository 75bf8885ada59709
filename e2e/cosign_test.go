package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCosign signs an image with a local key, verifies it with that key and
// checks that another key is refused. Nothing leaves loopback: no
// transparency log upload, and a local Rekor key so that verify does not
// fetch the public TUF root.
func TestCosign(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	work := t.TempDir()
	goodDir, badDir := filepath.Join(work, "good"), filepath.Join(work, "bad")
	cosign := lookClient(t, "cosign",
		"HOME="+work,
		"TUF_ROOT="+filepath.Join(work, "tuf"),
		"DOCKER_CONFIG="+filepath.Join(work, "docker"),
		"COSIGN_PASSWORD=",
		"COSIGN_YES=true",
		"COSIGN_EXPERIMENTAL=0",
		"SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(goodDir, "cosign.pub"),
	)
	repo := repoName(t)
	login(t, ctx, cosign, "login", "--password-stdin", reg)
	src := filepath.Join(work, "src")
	writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from cosign\n")})
	dgst := pushLayout(t, ctx, reg, repo, "v1", src)
	ref := reg + "/" + repo + "@" + dgst

	for _, dir := range []string{goodDir, badDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cosign.in(dir).run(t, ctx, "generate-key-pair")
	}
	insecure := cosignInsecure()

	cosign.run(t, ctx, append([]string{"sign", "--key", filepath.Join(goodDir, "cosign.key"),
		"--tlog-upload=false", "-y"}, append(insecure, ref)...)...)
	sigTag := strings.Replace(dgst, ":", "-", 1) + ".sig"
	if status, body, _ := httpGet(t, ctx, regURL(reg)+"/v2/"+repo+"/manifests/"+sigTag, manifestAccept); status != http.StatusOK {
		t.Errorf("signature manifest %s:%s: %d %s", repo, sigTag, status, abbrev(body))
	}

	verify := func(pub string) (string, string, error) {
		return cosign.exec(ctx, append([]string{"verify", "--key", pub, "--insecure-ignore-tlog=true"},
			append(insecure, ref)...)...)
	}
	stdout, stderr, err := verify(filepath.Join(goodDir, "cosign.pub"))
	if err != nil {
		t.Fatalf("cosign verify with the signing key: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, dgst) {
		t.Errorf("cosign verify output does not name %s:\n%s", dgst, stdout)
	}
	stdout, stderr, err = verify(filepath.Join(badDir, "cosign.pub"))
	if err == nil {
		t.Fatalf("cosign verify with another key succeeded:\n%s", stdout)
	}
	if !strings.Contains(stderr, "no matching signatures") {
		t.Errorf("cosign verify with another key failed for another reason: %v\n%s", err, stderr)
	}
}
