package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// containersEnv gives podman and buildah a private, throwaway world: image
// storage (vfs) and run state in a temp dir, their own auth file and
// configuration, so a test neither needs nor touches the machine's.
func containersEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	storageConf := filepath.Join(dir, "storage.conf")
	writeFile(t, storageConf, fmt.Appendf(nil, "[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "graph"), filepath.Join(dir, "run")))
	containersConf := filepath.Join(dir, "containers.conf")
	writeFile(t, containersConf, fmt.Appendf(nil,
		"[engine]\nevents_logger = \"file\"\nevents_logfile_path = %q\ncgroup_manager = \"cgroupfs\"\ntmp_dir = %q\n",
		filepath.Join(dir, "events.log"), filepath.Join(dir, "tmp")))
	registriesConf := filepath.Join(dir, "registries.conf")
	writeFile(t, registriesConf, []byte("unqualified-search-registries = []\n"))
	authFile := filepath.Join(dir, "auth.json")
	writeFile(t, authFile, []byte(`{"auths":{}}`))
	for _, d := range []string{"xdg", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"CONTAINERS_STORAGE_CONF=" + storageConf,
		"CONTAINERS_CONF=" + containersConf,
		"CONTAINERS_REGISTRIES_CONF=" + registriesConf,
		"REGISTRY_AUTH_FILE=" + authFile,
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
		"BUILDAH_ISOLATION=chroot",
	}
}

// TestPodman imports an image, pushes it with podman, removes it, pulls it
// back and checks the digests at each step.
func TestPodman(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	podman := lookClient(t, "podman", containersEnv(t)...)
	repo := repoName(t)
	src := lowerTempDir(t) // podman names an image pulled from oci:PATH after PATH
	img := writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from podman\n")})
	local := "localhost/" + repo + ":imported"
	login(t, ctx, podman, "login", tlsVerify(""), "--password-stdin", reg)

	out := strings.Fields(podman.run(t, ctx, "pull", "oci:"+src+":v1")) // prints the image id last
	if len(out) == 0 {
		t.Fatal("podman pull printed no image id")
	}
	id := out[len(out)-1]
	podman.run(t, ctx, "tag", id, local)

	digestFile := filepath.Join(t.TempDir(), "digest")
	remote := reg + "/" + repo + ":v1"
	podman.run(t, ctx, "push", tlsVerify(""), "--digestfile", digestFile, local, "docker://"+remote)
	b, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(string(b))
	got, m := registryManifest(t, ctx, reg, repo, "v1")
	if got != pushed {
		t.Fatalf("registry holds %s as %s, podman pushed %s", remote, got, pushed)
	}
	if m.Config == nil || "sha256:"+id != m.Config.Digest {
		t.Errorf("pushed config %+v, want the image id %s", m.Config, id)
	}
	t.Logf("source manifest %s, pushed by podman as %s", img.Digest, pushed)

	podman.run(t, ctx, "rmi", "--all", "--force")
	podman.run(t, ctx, "pull", tlsVerify(""), remote)
	if got := strings.TrimSpace(podman.run(t, ctx, "image", "inspect", "--format", "{{.Digest}}", remote)); got != pushed {
		t.Fatalf("pulled image digest %s, pushed %s", got, pushed)
	}
	if got := strings.TrimSpace(podman.run(t, ctx, "image", "inspect", "--format", "{{.Id}}", remote)); got != id {
		t.Fatalf("pulled image id %s, pushed %s", got, id)
	}
	saved := filepath.Join(t.TempDir(), "saved")
	podman.run(t, ctx, "save", "--format", "oci-dir", "-o", saved, remote)
	checkFiles(t, layoutFiles(t, saved, layoutManifest(t, saved, "").Digest), img.Files)
}

// lowerTempDir returns a new temporary directory whose path has no upper
// case letters (t.TempDir's path holds the test's name).
func lowerTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if strings.ToLower(dir) != dir {
		t.Fatalf("temp dir %s has upper case letters; set TMPDIR", dir)
	}
	return dir
}
