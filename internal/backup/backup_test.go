package backup_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/fsck"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/testenv"
)

// The restored servers start with another administrator password: the
// administrator logging in with the old one proves its hash came back.
const otherAdminPassword = "Not-the-old-one-987"

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tlogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct{ t *testing.T }

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// seeded is what seed made in a source registry.
type seeded struct {
	tags        map[string]digest.Digest // repo:tag -> manifest digest
	robot       apptest.Cred
	robotRepo   string
	ldapEnabled bool
}

func robotRequest(name, project string) map[string]any {
	return map[string]any{"name": name, "level": "project", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": project, "access": []map[string]string{
			{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}}}}}
}

// ldapSettings points the registry at the shared slapd (alice, bob, carol).
func ldapSettings(u string) map[string]any {
	return map[string]any{
		"auth_mode":                "ldap_auth",
		"ldap_url":                 u,
		"ldap_search_dn":           "cn=berth-search,ou=services,dc=berth,dc=test",
		"ldap_search_password":     "search-secret",
		"ldap_base_dn":             "ou=people,dc=berth,dc=test",
		"ldap_filter":              "(objectClass=inetOrgPerson)",
		"ldap_uid":                 "uid",
		"ldap_scope":               2,
		"ldap_group_base_dn":       "ou=groups,dc=berth,dc=test",
		"ldap_group_search_filter": "(objectClass=groupOfNames)",
		"ldap_group_admin_dn":      "cn=berth-admins,ou=groups,dc=berth,dc=test",
	}
}

// seed makes a private project with images, a robot with push and pull,
// and (with LDAP) an LDAP-onboarded user alice who is a member.
func seed(t *testing.T, srv *apptest.Server, images int, withLDAP bool) seeded {
	t.Helper()
	srv.CreateProject(t, "proj", false)
	s := seeded{tags: map[string]digest.Digest{}}
	for i := range images {
		repo := fmt.Sprintf("proj/img%d", i%3)
		tag := fmt.Sprintf("v%d", i)
		s.tags[repo+":"+tag] = srv.PushImage(t, apptest.Admin(), repo, tag).Manifest
	}
	var robot struct {
		Name   string `json:"name"`
		Secret string `json:"secret"`
	}
	srv.REST(t, http.MethodPost, "robots", robotRequest("ci", "proj")).Want(t, http.StatusCreated).Decode(t, &robot)
	s.robot, s.robotRepo = apptest.Basic(robot.Name, robot.Secret), "proj/img0"
	if withLDAP {
		srv.REST(t, http.MethodPut, "configurations", ldapSettings(testenv.Require(t, "BERTH_TEST_LDAP"))).Want(t, http.StatusOK)
		srv.Do(t, apptest.Basic("alice", "alice-secret"), http.MethodGet, "/v2/", nil).Want(t, http.StatusOK) // onboarded
		srv.AddMember(t, "proj", "alice", 2)
		s.ldapEnabled = true
	}
	return s
}

// checkRestored checks a restored registry against what seed made: every
// tag resolves to the same digest (through skopeo, which also fetches and
// verifies every blob), and the administrator, alice and the robot log in
// with their old secrets.
func checkRestored(t *testing.T, dst *apptest.Server, s seeded) {
	t.Helper()
	for ref, want := range s.tags {
		repo, tag, _ := strings.Cut(ref, ":")
		r := dst.Do(t, apptest.Admin(), http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil,
			"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
		if got := digest.FromBytes(r.Body); got != want {
			t.Errorf("restored %s is %s, was %s", ref, got, want)
		}
	}
	dst.Do(t, apptest.Admin(), http.MethodGet, "users/current", nil).Want(t, http.StatusOK)
	dst.Do(t, s.robot, http.MethodGet, "/v2/"+s.robotRepo+"/tags/list", nil).Want(t, http.StatusOK)
	if s.ldapEnabled {
		dst.Do(t, apptest.Basic("alice", "alice-secret"), http.MethodGet, "/v2/proj/img0/tags/list", nil).Want(t, http.StatusOK)
		dst.Do(t, apptest.Basic("alice", "wrong-secret"), http.MethodGet, "/v2/", nil).Want(t, http.StatusUnauthorized)
	}
}

// skopeoPullAll pulls every tag of every repository of srv with skopeo and
// checks each manifest digest against want (repo:tag -> digest); it
// returns how many it pulled.
func skopeoPullAll(t *testing.T, srv *apptest.Server, want map[string]digest.Digest) int {
	t.Helper()
	bin := testenv.RequireBinary(t, "skopeo")
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/_catalog?n=1000", nil).Want(t, http.StatusOK).Decode(t, &cat)
	n := 0
	for _, repo := range cat.Repositories {
		var tl struct {
			Tags []string `json:"tags"`
		}
		srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/"+repo+"/tags/list", nil).Want(t, http.StatusOK).Decode(t, &tl)
		for _, tag := range tl.Tags {
			dir := filepath.Join(t.TempDir(), "pull")
			cmd := exec.CommandContext(t.Context(), bin, "copy", "--src-tls-verify=false",
				"--src-creds", "admin:"+apptest.AdminPassword,
				"docker://"+srv.Addr+"/"+repo+":"+tag, "dir:"+dir)
			cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy %s:%s from the restored registry: %v\n%s", repo, tag, err, out)
			}
			m, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			got := digest.FromBytes(m)
			if w, ok := want[repo+":"+tag]; !ok || got != w {
				t.Errorf("skopeo pulled %s:%s as %s, the source had %s", repo, tag, got, w)
			}
			n++
		}
	}
	return n
}

// tagsOf lists every repo:tag -> digest of srv through /v2/.
func tagsOf(t *testing.T, srv *apptest.Server) map[string]digest.Digest {
	t.Helper()
	out := map[string]digest.Digest{}
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/_catalog?n=1000", nil).Want(t, http.StatusOK).Decode(t, &cat)
	for _, repo := range cat.Repositories {
		var tl struct {
			Tags []string `json:"tags"`
		}
		srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/"+repo+"/tags/list", nil).Want(t, http.StatusOK).Decode(t, &tl)
		for _, tag := range tl.Tags {
			r := srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil,
				"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
			out[repo+":"+tag] = digest.FromBytes(r.Body)
		}
	}
	return out
}

// pusher pushes small images into proj/live until stopped, without the
// testing.T (it runs on its own goroutine).
type pusher struct {
	srv    *apptest.Server
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	pushed map[string]digest.Digest
	err    error
}

func startPusher(srv *apptest.Server, max int) *pusher {
	p := &pusher{srv: srv, stop: make(chan struct{}), done: make(chan struct{}), pushed: map[string]digest.Digest{}}
	go func() {
		defer close(p.done)
		for i := range max {
			select {
			case <-p.stop:
				return
			default:
			}
			d, err := pushRaw(srv, "proj/live", fmt.Sprintf("t%d", i))
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.pushed["proj/live:"+fmt.Sprintf("t%d", i)] = d
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *pusher) finish(t *testing.T) map[string]digest.Digest {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.err != nil {
		t.Fatalf("concurrent push: %v", p.err)
	}
	return p.pushed
}

// pushRaw pushes a one-layer image (256 KiB layer) and returns its digest.
func pushRaw(srv *apptest.Server, repo, tag string) (digest.Digest, error) {
	layer := make([]byte, 256<<10)
	_, _ = rand.Read(layer)
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"tag":%q}`, tag))
	for _, b := range [][]byte{cfg, layer} {
		u := srv.URL + "/v2/" + repo + "/blobs/uploads/?digest=" + digest.FromBytes(b).String()
		if err := do(srv, http.MethodPost, u, "application/octet-stream", b, http.StatusCreated); err != nil {
			return "", err
		}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
	})
	if err := do(srv, http.MethodPut, srv.URL+"/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", m, http.StatusCreated); err != nil {
		return "", err
	}
	return digest.FromBytes(m), nil
}

func do(srv *apptest.Server, method, u, ctype string, body []byte, want int) error {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth("admin", apptest.AdminPassword)
	res, err := srv.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, u, res.StatusCode, b)
	}
	return nil
}

// s3Location is an s3:// backup location in the test bucket.
func s3Location(t *testing.T) string {
	u, err := url.Parse(testenv.Require(t, apptest.S3Env))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("s3://%s/backuptest-%x", strings.Trim(u.Path, "/"), b)
}

// withS3 gives a SQLite configuration the test S3 endpoint and keys (for
// an s3:// backup location) without storing its blobs there.
func withS3(t *testing.T, cfg config.Config) config.Config {
	s3cfg := apptest.PostgresS3Config(t).Storage.S3
	cfg.Storage.S3 = s3cfg
	return cfg
}

// TestBackupRestoreAcrossEngines: a backup taken while a client pushes,
// restored into the other engine and storage (SQLite + filesystem into
// PostgreSQL + S3 through a directory, and back through an s3:// location):
// every tag of the snapshot pulls through skopeo with its digest, the
// administrator, an LDAP-onboarded user and a robot log in with their old
// secrets, fsck finds nothing wrong, and a backup right after another
// copies no blob.
func TestBackupRestoreAcrossEngines(t *testing.T) {
	cases := []struct {
		name     string
		src, dst func(t *testing.T) config.Config
		location func(t *testing.T) string
	}{
		{"sqlite-fs to postgres-s3 via dir", apptestSQLite, apptestPostgresS3, func(t *testing.T) string { return t.TempDir() }},
		{"postgres-s3 to sqlite-fs via s3", apptestPostgresS3, func(t *testing.T) config.Config { return withS3(t, apptestSQLite(t)) }, s3Location},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srcCfg := tc.src(t)
			src := apptest.StartConfig(t, "source", srcCfg)
			s := seed(t, src, 6, true)
			loc := tc.location(t)
			// The backup reads its own configuration; s3 settings for the
			// location come from storage.s3.
			bcfg := src.Config
			if strings.HasPrefix(loc, "s3://") && bcfg.Storage.Type != "s3" {
				bcfg = withS3(t, bcfg)
			}

			// An upload in flight is not backed up.
			up := src.Do(t, apptest.Admin(), http.MethodPost, "/v2/proj/img0/blobs/uploads/", nil).Want(t, http.StatusAccepted)
			upload := up.Header.Get("Location")
			p := startPusher(src, 8)
			sum1, err := app.Backup(ctx, bcfg, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard)
			if err != nil {
				t.Fatalf("backup during pushes: %v", err)
			}
			p.finish(t)
			if sum1.BlobsCopied == 0 || sum1.Manifests < 6 || sum1.Tags < 6 {
				t.Fatalf("first backup: %+v", sum1)
			}
			if _, err := app.Backup(ctx, bcfg, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			sum3, err := app.Backup(ctx, bcfg, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if sum3.BlobsCopied != 0 || sum3.BlobsSkipped != sum3.Blobs || sum3.Blobs == 0 {
				t.Errorf("a backup right after another copied %d blobs (skipped %d of %d), want none", sum3.BlobsCopied, sum3.BlobsSkipped, sum3.Blobs)
			}
			var out bytes.Buffer
			if err := app.BackupVerify(ctx, bcfg, testLog(t), app.BackupOptions{Location: loc, Snapshot: sum1.SnapshotID}, &out, io.Discard); err != nil {
				t.Fatalf("verify: %v\n%s", err, out.String())
			}
			out.Reset()
			if err := app.BackupList(ctx, bcfg, app.BackupOptions{Location: loc}, &out); err != nil ||
				!strings.Contains(out.String(), sum1.SnapshotID) || !strings.Contains(out.String(), sum3.SnapshotID) {
				t.Errorf("list: %v\n%s", err, out.String())
			}

			// Restore the first snapshot (taken during the pushes).
			dstCfg := tc.dst(t)
			dstCfg.Auth.AdminPassword = otherAdminPassword
			rsum, err := app.Restore(ctx, dstCfg, testLog(t), app.BackupOptions{Location: loc, Snapshot: sum1.SnapshotID}, io.Discard, io.Discard)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if rsum.BlobsCopied != sum1.Blobs {
				t.Errorf("restore copied %d blobs, the snapshot holds %d", rsum.BlobsCopied, sum1.Blobs)
			}
			out.Reset()
			if err := app.Fsck(ctx, dstCfg, testLog(t), fsckOptions(), &out); err != nil {
				t.Errorf("fsck of the restored registry: %v\n%s", err, out.String())
			}
			dst := apptest.StartConfig(t, "restored", dstCfg)
			checkRestored(t, dst, s)
			var uploads int
			if err := dst.Store(t).DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM uploads`).Scan(&uploads); err != nil || uploads != 0 {
				t.Errorf("the restored registry holds %d upload sessions (err %v), want none", uploads, err)
			}
			if !strings.HasPrefix(upload, "http") {
				upload = dst.URL + upload
			} else {
				upload = dst.URL + upload[strings.Index(upload[len("http://"):], "/")+len("http://"):]
			}
			dst.Do(t, apptest.Admin(), http.MethodGet, upload, nil).Want(t, http.StatusNotFound)
			// The restored registry takes new rows (sequences were reset
			// past the restored ids).
			dst.CreateProject(t, "after", false)
			// (local users cannot be created: the restored auth_mode is ldap_auth)
			dst.PushImage(t, apptest.Admin(), "after/x", "v1")
			dst.REST(t, http.MethodPost, "robots", robotRequest("ci2", "proj")).Want(t, http.StatusCreated)
			// Every tag the snapshot holds is one the source had, with the
			// same digest; the seeded ones are all there.
			srcTags := tagsOf(t, src)
			srcTags["after/x:v1"] = tagsOf(t, dst)["after/x:v1"]
			restored := tagsOf(t, dst)
			delete(restored, "after/x:v1")
			if int64(len(restored)) != sum1.Tags {
				t.Errorf("restored registry has %d tags, the snapshot %d", len(restored), sum1.Tags)
			}
			if n := skopeoPullAll(t, dst, srcTags); n != len(restored)+1 {
				t.Errorf("skopeo pulled %d tags of %d", n, len(restored))
			}
		})
	}
}

func apptestSQLite(t *testing.T) config.Config     { return apptest.SQLiteConfig(t) }
func apptestPostgresS3(t *testing.T) config.Config { return apptest.PostgresS3Config(t) }
func fsckOptions() fsck.Options                    { return fsck.Options{Rehash: true} }

// TestBackupDamaged: a blob corrupted and another deleted inside a backup
// are both named by verify and by restore, which writes nothing to the
// target database; a restore into a registry that is not empty is refused.
func TestBackupDamaged(t *testing.T) {
	ctx := t.Context()
	src := apptest.Start(t)
	s := seed(t, src, 3, false)
	loc := t.TempDir()
	sum, err := app.Backup(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	img := s.tags["proj/img0:v0"]
	// The image's manifest names its config and layer.
	var m struct {
		Config struct{ Digest digest.Digest }   `json:"config"`
		Layers []struct{ Digest digest.Digest } `json:"layers"`
	}
	r := src.Do(t, apptest.Admin(), http.MethodGet, "/v2/proj/img0/manifests/"+img.String(), nil,
		"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
	r.Decode(t, &m)
	corrupt, gone := m.Layers[0].Digest, m.Config.Digest
	path := func(d digest.Digest) string {
		return filepath.Join(loc, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
	}
	b, err := os.ReadFile(path(corrupt))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path(corrupt), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(gone)); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err = app.BackupVerify(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc}, &out, io.Discard)
	if !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("verify of a damaged backup: %v, want ErrVerify", err)
	}
	for _, want := range []string{corrupt.String() + " (", "digest mismatch", gone.String() + " (", "missing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify output does not name %q:\n%s", want, out.String())
		}
	}

	dstCfg := apptest.SQLiteConfig(t)
	_, err = app.Restore(ctx, dstCfg, testLog(t), app.BackupOptions{Location: loc, Snapshot: sum.SnapshotID}, io.Discard, io.Discard)
	if !errors.Is(err, backup.ErrRestoreBlobs) || !strings.Contains(err.Error(), corrupt.String()) || !strings.Contains(err.Error(), gone.String()) {
		t.Fatalf("restore of a damaged backup: %v, want ErrRestoreBlobs naming %s and %s", err, corrupt, gone)
	}
	dst := apptest.StartConfig(t, "target", dstCfg)
	var n int
	if err := dst.Store(t).DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM repositories`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the target holds %d repositories after a refused restore (err %v), want 0", n, err)
	}

	// The source is not empty: refused without --force.
	good := t.TempDir()
	if _, err := app.Backup(ctx, src.Config, testLog(t), app.BackupOptions{Location: good}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Restore(ctx, dst.Config, testLog(t), app.BackupOptions{Location: good}, io.Discard, io.Discard); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("restore into a registry that is not empty: %v, want ErrNotEmpty", err)
	}
}

// gcDuringCopy deletes a manifest and collects garbage with no grace
// between the snapshot's read and its blob copies.
type gcDuringCopy struct {
	backup.Progress
	run func()
}

func (g gcDuringCopy) Start(blobs, bytes int64) {
	g.run()
	g.Progress.Start(blobs, bytes)
}

// TestBackupWithGC: a manifest is deleted and garbage collection runs with
// no grace after the snapshot is read and before its blobs are copied;
// the lease keeps the deleted image's blobs, so the snapshot is complete,
// verifies, and restores with the image.
func TestBackupWithGC(t *testing.T) {
	apptest.ForEachConfig(t, func(t *testing.T, src *apptest.Server) {
		ctx := t.Context()
		s := seed(t, src, 3, false)
		victim := s.tags["proj/img1:v1"]
		// A blob no manifest uses, whose review was queued an hour ago:
		// garbage the lease does not cover, collected during the backup.
		lone := src.PushBlob(t, apptest.Admin(), "proj/img2", []byte("uploaded, never used "+t.Name()))
		hourAgo := time.Now().Add(-time.Hour).UTC()
		db := src.Store(t).DB()
		loc := t.TempDir()
		hook := gcDuringCopy{Progress: backup.Lines(ctx, testLog(t), "backup", time.Hour), run: func() {
			src.Do(t, apptest.Admin(), http.MethodDelete, "/v2/proj/img1/manifests/"+victim.String(), nil).Want(t, http.StatusAccepted)
			// The server's own sweep (run once at its start, late on a
			// busy machine) may claim the aged review first and, under the
			// default grace, put it off: age it again and collect until
			// the blob is gone, a few times at most.
			for attempt := 0; attempt < 5; attempt++ {
				for _, q := range []string{
					`UPDATE gc_blob_reviews SET queued_at = $1, review_after = $1, not_before = NULL WHERE blob_digest = $2`,
					`UPDATE repository_blobs SET linked_at = $1, created_at = $1 WHERE blob_digest = $2`,
				} {
					if _, err := db.ExecContext(ctx, q, hourAgo, lone.String()); err != nil {
						t.Error(err)
					}
				}
				var out bytes.Buffer
				if err := app.GC(ctx, src.Config, testLog(t), app.GCOptions{Grace: 0}, &out); err != nil {
					t.Errorf("gc: %v\n%s", err, out.String())
				}
				var left int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs WHERE digest = $1 AND NOT deleting`, lone.String()).Scan(&left); err != nil {
					t.Error(err)
				}
				if left == 0 {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Errorf("garbage collection never collected %s", lone)
		}}
		sum, err := app.Backup(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc, Progress: hook}, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("backup beside gc: %v", err)
		}
		if sum.Collected != 1 {
			t.Errorf("the backup recorded %d blobs collected meanwhile, want 1 (%s)", sum.Collected, lone)
		}
		if err := app.BackupVerify(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard); err != nil {
			t.Fatalf("verify: %v", err)
		}
		dstCfg := apptest.SQLiteConfig(t)
		if _, err := app.Restore(ctx, dstCfg, testLog(t), app.BackupOptions{Location: loc, Snapshot: sum.SnapshotID}, io.Discard, io.Discard); err != nil {
			t.Fatalf("restore: %v", err)
		}
		dst := apptest.StartConfig(t, "restored", dstCfg)
		checkRestored(t, dst, s) // img1:v1 included: deleted after the read point
		// The collected blob is being deleted in the restored registry too
		// (or its collector has finished already).
		var deleting bool
		err = dst.Store(t).DB().QueryRowContext(ctx, `SELECT deleting FROM blobs WHERE digest = $1`, lone.String()).Scan(&deleting)
		if !errors.Is(err, sql.ErrNoRows) && (err != nil || !deleting) {
			t.Errorf("restored row of the collected blob: deleting %v, err %v", deleting, err)
		}
		dst.Do(t, apptest.Admin(), http.MethodHead, "/v2/proj/img2/blobs/"+lone.String(), nil).Want(t, http.StatusNotFound)
	}, func(c *config.Config) { c.GC.Interval = time.Hour }) // no sweep of the server's own in the way
}

// TestScheduledBackups: the backup job runs a backup asked for through
// POST /system/backups and every scheduled one; retention keeps the two
// newest snapshots and prunes the blobs only older ones held; the history
// and the metrics show the runs; only administrators see or start them,
// and no answer carries the S3 secret.
func TestScheduledBackups(t *testing.T) {
	apptest.ForEachConfig(t, func(t *testing.T, srv *apptest.Server) {
		ctx := t.Context()
		srv.CreateProject(t, "proj", false)
		srv.PushImage(t, apptest.Admin(), "proj/a", "v1")
		srv.CreateUser(t, "someone", "Someone-pass-123", false)
		someone := apptest.Basic("someone", "Someone-pass-123")
		srv.Do(t, someone, http.MethodGet, "system/backups", nil).Want(t, http.StatusForbidden)
		srv.Do(t, someone, http.MethodPost, "system/backups", nil).Want(t, http.StatusForbidden)
		srv.Do(t, apptest.Cred{}, http.MethodGet, "system/backups", nil).Want(t, http.StatusUnauthorized)

		var run struct {
			ID         int64  `json:"id"`
			Kind       string `json:"job_kind"`
			Status     string `json:"job_status"`
			SnapshotID string `json:"snapshot_id"`
			Blobs      int64  `json:"blobs"`
			Error      string `json:"error"`
		}
		srv.REST(t, http.MethodPost, "system/backups", nil).Want(t, http.StatusCreated).Decode(t, &run)
		if run.Kind != "MANUAL" || run.Status != "Pending" {
			t.Fatalf("POST /system/backups: %+v", run)
		}
		id := run.ID
		if !apptest.Eventually(t, time.Minute, func() bool {
			srv.REST(t, http.MethodGet, fmt.Sprintf("system/backups/%d", id), nil).Want(t, http.StatusOK).Decode(t, &run)
			return run.Status == "Success" || run.Status == "Error"
		}) || run.Status != "Success" || run.SnapshotID == "" || run.Blobs < 2 { // a scheduled run may have copied them first
			t.Fatalf("manual run: %+v", run)
		}
		srv.PushImage(t, apptest.Admin(), "proj/b", "v1")

		// Scheduled runs every 2 s: wait for three more successful ones.
		var runs []struct {
			Kind   string `json:"job_kind"`
			Status string `json:"job_status"`
			Pruned int64  `json:"snapshots_pruned"`
		}
		var body []byte
		if !apptest.Eventually(t, 90*time.Second, func() bool {
			r := srv.REST(t, http.MethodGet, "system/backups?page_size=50", nil).Want(t, http.StatusOK)
			body = r.Body
			r.Decode(t, &runs)
			n := 0
			for _, r := range runs {
				if r.Kind == "SCHEDULE" && r.Status == "Success" {
					n++
				}
			}
			return n >= 3
		}) {
			t.Fatalf("fewer than 3 scheduled runs succeeded: %s", body)
		}
		if sk := srv.Config.Storage.S3.SecretKey; sk != "" && bytes.Contains(body, []byte(sk)) {
			t.Errorf("GET /system/backups echoes the S3 secret")
		}
		pruned := int64(0)
		for _, r := range runs {
			pruned += r.Pruned
		}
		if pruned == 0 {
			t.Errorf("retention (keep_last 2) pruned nothing: %s", body)
		}
		var out bytes.Buffer
		if err := app.BackupList(ctx, srv.Config, app.BackupOptions{Location: srv.Config.Backup.Location}, &out); err != nil {
			t.Fatal(err)
		}
		// A header line and at most the two kept snapshots, plus one a run
		// may be writing right now.
		if lines := strings.Count(out.String(), "\n"); lines < 3 || lines > 4 {
			t.Errorf("after retention the repository lists:\n%s", out.String())
		}
		if err := app.BackupVerify(ctx, srv.Config, testLog(t), app.BackupOptions{Location: srv.Config.Backup.Location}, io.Discard, io.Discard); err != nil {
			t.Errorf("verify the newest scheduled snapshot: %v", err)
		}
		m := srv.Do(t, apptest.Cred{}, http.MethodGet, "/metrics", nil).Want(t, http.StatusOK)
		if !bytes.Contains(m.Body, []byte("berth_backup_last_success_timestamp_seconds 1.")) ||
			!bytes.Contains(m.Body, []byte("berth_backup_last_bytes ")) {
			t.Errorf("/metrics lacks the last backup's figures")
		}
	}, func(c *config.Config) {
		c.Backup.Location = filepath.Join(c.DataDir, "backups")
		c.Backup.Schedule = "@every 2s"
		c.Backup.PollInterval = time.Second
		c.Backup.KeepLast, c.Backup.KeepDaily, c.Backup.KeepWeekly = 2, 0, 0
	})
}

// TestPrune: retention removes the snapshots it does not keep and then the
// blobs only they held, but no blob while a recent incomplete snapshot (a
// backup in progress) exists; the kept snapshot still verifies.
func TestPrune(t *testing.T) {
	ctx := t.Context()
	src := apptest.Start(t)
	src.CreateProject(t, "proj", false)
	a := src.PushImage(t, apptest.Admin(), "proj/a", "v1")
	loc := t.TempDir()
	if _, err := app.Backup(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	src.Do(t, apptest.Admin(), http.MethodDelete, "/v2/proj/a/manifests/"+a.Manifest.String(), nil).Want(t, http.StatusAccepted)
	if err := app.GC(ctx, src.Config, testLog(t), app.GCOptions{Grace: 0}, io.Discard); err != nil {
		t.Fatal(err)
	}
	src.PushImage(t, apptest.Admin(), "proj/b", "v1")
	second, err := app.Backup(ctx, src.Config, testLog(t), app.BackupOptions{Location: loc}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filesystem.New(loc)
	if err != nil {
		t.Fatal(err)
	}
	blobPath := func(d digest.Digest) string {
		return filepath.Join(loc, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
	}
	// A backup in progress elsewhere: its table files, no manifest yet.
	inProgress := filepath.Join(loc, "snapshots", "20991231T000000Z-000000", "tables")
	if err := os.MkdirAll(inProgress, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inProgress, "users.jsonl.gz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := backup.Prune(ctx, repo, backup.Retention{Last: 1}, time.Now())
	if err != nil || res.Snapshots != 1 || res.BlobsKept || res.Blobs != 0 {
		t.Fatalf("prune beside a backup in progress: %+v, %v", res, err)
	}
	if _, err := os.Stat(blobPath(a.Layer)); err != nil {
		t.Errorf("a blob was removed while a backup was in progress: %v", err)
	}
	// A day later the incomplete snapshot is taken as abandoned.
	res, err = backup.Prune(ctx, repo, backup.Retention{Last: 1}, time.Now().Add(25*time.Hour))
	if err != nil || res.Incomplete != 1 || !res.BlobsKept || res.Blobs != 2 {
		t.Fatalf("prune: %+v, %v (want the abandoned snapshot and image a's config and layer removed)", res, err)
	}
	for _, d := range []digest.Digest{a.Layer, a.Config} {
		if _, err := os.Stat(blobPath(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("blob %s only the pruned snapshot held is still there (%v)", d, err)
		}
	}
	ms, err := backup.List(ctx, repo)
	if err != nil || len(ms) != 1 || ms[0].ID != second.SnapshotID {
		t.Fatalf("after prune: %d snapshots, %v", len(ms), err)
	}
	if _, err := backup.Verify(ctx, repo, second.SnapshotID, backup.Options{}); err != nil {
		t.Errorf("the kept snapshot: %v", err)
	}
}
