package e2e

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCrane pushes, pulls, copies, lists and deletes with crane.
func TestCrane(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	work := t.TempDir()
	crane := lookClient(t, "crane", "HOME="+work, "DOCKER_CONFIG="+filepath.Join(work, "docker"))
	repo, repo2 := repoName(t), repoName(t, "copy")
	src, dst := filepath.Join(work, "src"), filepath.Join(work, "dst")
	img := writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from crane\n")})
	login(t, ctx, crane, "auth", "login", "--password-stdin", reg)

	// push: a directory is read as an OCI layout
	crane.run(t, ctx, "push", craneInsecure(), src, reg+"/"+repo+":v1")
	if got := strings.TrimSpace(crane.run(t, ctx, "digest", craneInsecure(), reg+"/"+repo+":v1")); got != img.Digest {
		t.Fatalf("crane digest after push: %s, pushed %s", got, img.Digest)
	}
	if got, _ := registryManifest(t, ctx, reg, repo, "v1"); got != img.Digest {
		t.Fatalf("registry holds %s:v1 as %s, pushed %s", repo, got, img.Digest)
	}

	// pull
	crane.run(t, ctx, "pull", craneInsecure(), "--format", "oci", reg+"/"+repo+":v1", dst)
	if got := layoutManifest(t, dst, "").Digest; got != img.Digest {
		t.Fatalf("pulled manifest digest %s, pushed %s", got, img.Digest)
	}
	checkFiles(t, layoutFiles(t, dst, img.Digest), img.Files)

	// copy to another repository (a cross-repository mount for most clients)
	crane.run(t, ctx, "copy", craneInsecure(), reg+"/"+repo+":v1", reg+"/"+repo2+":v2")
	if got := strings.TrimSpace(crane.run(t, ctx, "digest", craneInsecure(), reg+"/"+repo2+":v2")); got != img.Digest {
		t.Fatalf("crane digest of the copy: %s, want %s", got, img.Digest)
	}

	// tag, ls and catalog
	crane.run(t, ctx, "tag", craneInsecure(), reg+"/"+repo+":v1", "v1.1")
	tags := strings.Fields(crane.run(t, ctx, "ls", craneInsecure(), reg+"/"+repo))
	if want := []string{"v1", "v1.1"}; !slices.Equal(tags, want) {
		t.Fatalf("crane ls %s = %q, want %q", repo, tags, want)
	}
	catalog := strings.Fields(crane.run(t, ctx, "catalog", craneInsecure(), reg))
	for _, r := range []string{repo, repo2} {
		if !slices.Contains(catalog, r) {
			t.Errorf("crane catalog does not list %s (it lists %d repositories)", r, len(catalog))
		}
	}
	if !slices.IsSorted(catalog) {
		t.Errorf("crane catalog is not in lexical order: %q", catalog)
	}

	// delete by digest: every tag of the manifest goes, the copy stays
	crane.run(t, ctx, "delete", craneInsecure(), reg+"/"+repo+"@"+img.Digest)
	for _, ref := range []string{img.Digest, "v1", "v1.1"} {
		status, body, _ := httpGet(t, ctx, regURL(reg)+"/v2/"+repo+"/manifests/"+ref, manifestAccept)
		if status != http.StatusNotFound || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
			t.Errorf("GET %s:%s after delete: %d %s, want 404 MANIFEST_UNKNOWN", repo, ref, status, abbrev(body))
		}
	}
	if _, stderr, err := crane.exec(ctx, "manifest", craneInsecure(), reg+"/"+repo+"@"+img.Digest); err == nil {
		t.Errorf("crane manifest after delete succeeded")
	} else if !strings.Contains(stderr, "MANIFEST_UNKNOWN") {
		t.Errorf("crane manifest after delete: %v, stderr %q, want MANIFEST_UNKNOWN", err, stderr)
	}
	if got, _ := registryManifest(t, ctx, reg, repo2, "v2"); got != img.Digest {
		t.Errorf("the copy in %s changed after deleting the original: %s, want %s", repo2, got, img.Digest)
	}
}
