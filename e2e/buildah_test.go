package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildah builds an image from scratch with buildah, pushes it, and pulls
// it with skopeo to check its digest and content.
func TestBuildah(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	env := containersEnv(t)
	buildah := lookClient(t, "buildah", env...)
	skopeo := lookClient(t, "skopeo", env...)
	repo := repoName(t)
	remote := reg + "/" + repo + ":v1"
	hello := []byte("hello from buildah " + randomHex(t, 16) + "\n")
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "hello.txt"), hello)
	login(t, ctx, buildah, "login", tlsVerify(""), "--password-stdin", reg) // skopeo shares the auth file

	ctr := strings.TrimSpace(buildah.run(t, ctx, "--storage-driver", "vfs", "from", "scratch"))
	buildah.run(t, ctx, "--storage-driver", "vfs", "copy", ctr, filepath.Join(work, "hello.txt"), "/hello.txt")
	buildah.run(t, ctx, "--storage-driver", "vfs", "config", "--cmd", "/hello.txt", "--label", "e2e=buildah", ctr)
	id := strings.TrimSpace(buildah.run(t, ctx, "--storage-driver", "vfs", "commit", "--format", "oci", ctr,
		"localhost/"+repo+":built"))
	digestFile := filepath.Join(work, "digest")
	buildah.run(t, ctx, "--storage-driver", "vfs", "push", tlsVerify(""), "--digestfile", digestFile,
		id, "docker://"+remote)
	b, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(string(b))

	got, m := registryManifest(t, ctx, reg, repo, "v1")
	if got != pushed {
		t.Fatalf("registry holds %s as %s, buildah pushed %s", remote, got, pushed)
	}
	if m.Config == nil || m.Config.Digest != "sha256:"+id {
		t.Errorf("pushed config %+v, want the image id %s", m.Config, id)
	}

	dst := filepath.Join(work, "pulled")
	skopeo.run(t, ctx, "copy", tlsVerify("src-"), "docker://"+remote, "oci:"+dst+":v1")
	if got := layoutManifest(t, dst, "v1").Digest; got != pushed {
		t.Fatalf("skopeo pulled %s, buildah pushed %s", got, pushed)
	}
	checkFiles(t, layoutFiles(t, dst, pushed), map[string][]byte{"hello.txt": hello})
}
