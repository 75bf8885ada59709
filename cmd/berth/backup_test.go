package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestBackupCommands drives `berth backup`, `backup list`, `backup verify`
// and `restore` through run, as the command line does: a registry with an
// image is backed up, listed, verified and restored into a new data
// directory; a second restore there is refused without --force.
func TestBackupCommands(t *testing.T) {
	src := apptest.Start(t)
	src.CreateProject(t, "proj", false)
	img := src.PushImage(t, apptest.Admin(), "proj/app", "v1")
	dir := filepath.Join(t.TempDir(), "backups")
	srcEnv := map[string]string{"BERTH_DATA_DIR": src.Config.DataDir}
	dstEnv := map[string]string{"BERTH_DATA_DIR": t.TempDir()}
	berth := func(env map[string]string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := berth(srcEnv, "backup", "--to", dir)
	if err != nil || !strings.Contains(out, "1 manifests, 1 tags, 2 blobs (2 copied, 0 skipped)") {
		t.Fatalf("berth backup: %v\n%s", err, out)
	}
	id := strings.Fields(out[strings.Index(out, "backup 2"):])[1]
	id = strings.TrimSuffix(id, ":")
	if out, err := berth(srcEnv, "backup", "list", "--from", dir); err != nil || !strings.Contains(out, id) {
		t.Errorf("berth backup list: %v\n%s", err, out)
	}
	if out, err := berth(srcEnv, "backup", "verify", "--from", dir, "--snapshot", id); err != nil || !strings.Contains(out, "0 problems") {
		t.Errorf("berth backup verify: %v\n%s", err, out)
	}
	if out, err := berth(dstEnv, "restore", "--from", dir); err != nil || !strings.Contains(out, "restore "+id) {
		t.Fatalf("berth restore: %v\n%s", err, out)
	}
	if out, err := berth(dstEnv, "restore", "--from", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a second restore without --force: %v\n%s", err, out)
	}
	if out, err := berth(dstEnv, "restore", "--from", dir, "--force"); err != nil {
		t.Errorf("restore --force: %v\n%s", err, out)
	}
	cfg := apptest.SQLiteConfig(t)
	cfg.DataDir = dstEnv["BERTH_DATA_DIR"]
	cfg.Database.URL = "sqlite://" + filepath.Join(cfg.DataDir, "berth.db")
	cfg.Storage.Filesystem.RootDirectory = filepath.Join(cfg.DataDir, "storage")
	dst := apptest.StartConfig(t, "restored", cfg)
	r := dst.Do(t, apptest.Admin(), http.MethodGet, "/v2/proj/app/manifests/v1", nil,
		"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
	if !bytes.Equal(r.Body, img.ManifestBytes) {
		t.Errorf("restored manifest differs from the pushed one")
	}
}
