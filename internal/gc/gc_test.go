package gc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

// env is one registry (content, registry, collector) over a store and a
// filesystem driver.
type env struct {
	store *meta.Store
	drv   storage.Driver
	blobs *content.Service
	reg   *registry.Service
	gc    *gc.Collector
}

func newEnv(t *testing.T, store *meta.Store) *env {
	t.Helper()
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if _, err := store.Projects.CreateProject(t.Context(), meta.Project{Name: "lib", Public: true}); err != nil && !errors.Is(err, meta.ErrProjectExists) {
		t.Fatal(err)
	}
	return &env{
		store: store,
		drv:   drv,
		blobs: content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log),
		reg:   registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log),
		gc:    gc.New(store.GC, drv, nil, nil, log),
	}
}

// now collects every due review as if the grace period were over, and
// takes over a marked blob at once (as after a worker's death).
var now = gc.Options{Grace: 0, DeleteHold: time.Nanosecond}

// claimNow is meta.ClaimOptions of now.
var claimNow = meta.ClaimOptions{Grace: 0, DeleteHold: time.Nanosecond}

func randomBlob(t testing.TB, n int) ([]byte, digest.Digest) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, digest.FromBytes(b)
}

func (e *env) push(t testing.TB, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := e.blobs.PutBlob(context.Background(), repo, d, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("push blob to %s: %v", repo, err)
	}
	return d
}

// manifest returns an OCI image manifest with config cfg and layers.
func manifest(t testing.TB, cfg digest.Digest, cfgSize int64, layers map[digest.Digest]int64) []byte {
	t.Helper()
	type desc struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
		Size      int64         `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json",
		desc{"application/vnd.oci.image.config.v1+json", cfg, cfgSize}, []desc{}}
	for d, n := range layers {
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar", d, n})
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// image pushes a config and one layer to repo and a manifest tagged tag.
func (e *env) image(t testing.TB, repo, tag string) (digest.Digest, []digest.Digest) {
	t.Helper()
	cfg, _ := randomBlob(t, 64)
	layer, _ := randomBlob(t, 1000)
	dc, dl := e.push(t, repo, cfg), e.push(t, repo, layer)
	res, err := e.reg.PutManifest(context.Background(), repo, tag, ociManifest, manifest(t, dc, 64, map[digest.Digest]int64{dl: 1000}))
	if err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	return res.Digest, []digest.Digest{dc, dl}
}

// pullsCompletely reads manifest ref of repo and every blob it references.
func (e *env) pullsCompletely(t testing.TB, repo, ref string) error {
	t.Helper()
	return e.readAll(t, repo, ref, true)
}

// storedCompletely is pullsCompletely without requiring the blobs to be
// linked to repo.
func (e *env) storedCompletely(t testing.TB, repo, ref string) error {
	t.Helper()
	return e.readAll(t, repo, ref, false)
}

func (e *env) readAll(t testing.TB, repo, ref string, linked bool) error {
	t.Helper()
	ctx := context.Background()
	m, err := e.reg.Resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	var p struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return err
	}
	ds := []digest.Digest{p.Config.Digest}
	for _, l := range p.Layers {
		ds = append(ds, l.Digest)
	}
	for _, d := range ds {
		b, err := e.store.Blobs.GetBlob(ctx, d)
		if linked {
			b, err = e.blobs.Stat(ctx, repo, d)
		}
		if err != nil {
			return err
		}
		rc, err := e.blobs.Open(ctx, b, 0)
		if err != nil {
			return err
		}
		v := d.Verifier()
		_, err = io.Copy(v, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if !v.Verified() {
			return errors.New("blob " + d.String() + " does not verify")
		}
	}
	return nil
}

func sweep(t testing.TB, e *env, opts gc.Options) gc.Report {
	t.Helper()
	r, err := e.gc.Sweep(context.Background(), opts)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return r
}

func stored(t testing.TB, e *env, d digest.Digest) bool {
	t.Helper()
	b, err := e.store.Blobs.GetBlob(context.Background(), d)
	if errors.Is(err, meta.ErrBlobNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.drv.Stat(context.Background(), b.StorageKey)
	return err == nil
}

// TestUnreferencedBlobCollected: an uploaded blob no manifest references
// is kept through its grace period and deleted after it; a referenced one
// never is, and deleting the manifest makes its blobs collectable.
func TestUnreferencedBlobCollected(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		data, _ := randomBlob(t, 500)
		lone := e.push(t, "lib/app", data)
		md, used := e.image(t, "lib/app", "v1")

		if r := sweep(t, e, gc.Options{Grace: -1}); r.BlobsDeleted != 0 {
			t.Fatalf("within the grace period: deleted %d, want 0", r.BlobsDeleted)
		}
		r := sweep(t, e, now)
		if r.BlobsDeleted != 1 || r.BytesFreed != 500 || !stored(t, e, used[0]) || stored(t, e, lone) {
			t.Fatalf("after grace: %+v; want only the unreferenced blob deleted", r)
		}
		if err := e.pullsCompletely(t, "lib/app", "v1"); err != nil {
			t.Fatalf("pull after gc: %v", err)
		}
		if err := e.reg.DeleteManifest(context.Background(), "lib/app", md.String()); err != nil {
			t.Fatal(err)
		}
		r = sweep(t, e, now)
		if r.BlobsDeleted != 2 || stored(t, e, used[0]) || stored(t, e, used[1]) {
			t.Fatalf("after manifest delete: %+v; want its 2 blobs deleted", r)
		}
		if st, err := s.GC.Stats(context.Background()); err != nil || st.Reviews != 0 {
			t.Fatalf("queue after gc: %+v, %v; want empty", st, err)
		}
	})
}

// TestRaceHeadGCPut: a client HEADs a blob (present), GC deletes it, the
// client PUTs a manifest referencing it: a clean MANIFEST_BLOB_UNKNOWN and
// nothing stored, never a manifest whose blob is missing.
func TestRaceHeadGCPut(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		cfgData, _ := randomBlob(t, 64)
		cfg := e.push(t, "lib/app", cfgData)
		if _, err := e.blobs.Stat(ctx, "lib/app", cfg); err != nil { // HEAD
			t.Fatal(err)
		}
		if r := sweep(t, e, now); r.BlobsDeleted != 1 {
			t.Fatalf("gc deleted %d, want 1", r.BlobsDeleted)
		}
		_, err := e.reg.PutManifest(ctx, "lib/app", "v1", ociManifest, manifest(t, cfg, 64, nil))
		if !errors.Is(err, registry.ErrManifestBlobUnknown) {
			t.Fatalf("put manifest after gc: %v, want ErrManifestBlobUnknown", err)
		}
		if _, err := e.reg.Resolve(ctx, "lib/app", "v1"); err == nil {
			t.Fatal("a manifest was stored whose blob is gone")
		}
	})
}

// TestRacePutHoldsBlobs: a manifest PUT that has locked its blobs and not
// yet committed keeps them: a GC worker running meanwhile either waits
// (SQLite) or postpones the review (PostgreSQL, SKIP LOCKED), and never
// deletes them.
func TestRacePutHoldsBlobs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		cfgData, _ := randomBlob(t, 64)
		cfg := e.push(t, "lib/app", cfgData)
		payload := manifest(t, cfg, 64, nil)
		locked, release := make(chan struct{}), make(chan struct{})
		putDone := make(chan error, 1)
		go func() {
			putDone <- s.InTx(ctx, func(tx *meta.Store) error {
				if err := tx.Blobs.LockBlobs(ctx, []digest.Digest{cfg}); err != nil {
					return err
				}
				if _, err := tx.Blobs.GetLinkedBlob(ctx, "lib/app", cfg); err != nil {
					return err
				}
				close(locked)
				<-release
				return tx.Manifests.PutManifest(ctx, "lib/app", meta.Manifest{Digest: digest.FromBytes(payload),
					MediaType: ociManifest, Payload: payload}, meta.ManifestRefs{Blobs: []digest.Digest{cfg}})
			})
		}()
		<-locked
		gcDone := make(chan gc.Report, 1)
		go func() {
			r, err := e.gc.Sweep(ctx, gc.Options{Grace: 0, MaxReviews: 1, DeleteHold: time.Nanosecond})
			if err != nil {
				t.Error(err)
			}
			gcDone <- r
		}()
		time.Sleep(200 * time.Millisecond) // let the worker reach the row
		close(release)
		if err := <-putDone; err != nil {
			t.Fatalf("put: %v", err)
		}
		if r := <-gcDone; r.BlobsDeleted != 0 {
			t.Fatalf("gc deleted %d blobs a committing manifest references", r.BlobsDeleted)
		}
		sweep(t, e, now)
		if !stored(t, e, cfg) {
			t.Fatal("referenced blob deleted")
		}
	})
}

// TestRaceMount: a mount from a repository whose blob GC has marked fails
// cleanly (the client uploads instead); a mount before GC keeps the blob
// for the grace period.
func TestRaceMount(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		data, _ := randomBlob(t, 100)
		d := e.push(t, "lib/a", data)
		cl, err := s.GC.Claim(ctx, claimNow) // GC marks it; its delete is under way
		if err != nil || cl.Outcome != meta.ClaimDelete {
			t.Fatalf("claim: %v, %v; want delete", cl, err)
		}
		if _, err := e.blobs.Mount(ctx, "lib/b", "lib/a", d); !errors.Is(err, meta.ErrBlobNotFound) {
			t.Fatalf("mount of a blob being deleted: %v, want ErrBlobNotFound", err)
		}
		sweep(t, e, now) // finishes the delete (as after a crashed worker)
		if stored(t, e, d) {
			t.Fatal("blob still stored")
		}

		d = e.push(t, "lib/a", data)
		if _, err := e.blobs.Mount(ctx, "lib/b", "lib/a", d); err != nil {
			t.Fatal(err)
		}
		if r := sweep(t, e, gc.Options{Grace: -1}); r.BlobsDeleted != 0 || !stored(t, e, d) {
			t.Fatalf("a freshly mounted blob was deleted: %+v", r)
		}
	})
}

// TestRaceConcurrentPushSameBlob: GC has marked a blob and is deleting its
// object when a client pushes the same content again: the new upload gets
// its own key and survives the old object's deletion.
func TestRaceConcurrentPushSameBlob(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		data, _ := randomBlob(t, 300)
		d := e.push(t, "lib/app", data)
		cl, err := s.GC.Claim(ctx, claimNow)
		if err != nil || cl.Outcome != meta.ClaimDelete {
			t.Fatalf("claim: %v, %v", cl, err)
		}
		e.push(t, "lib/app", data) // the same blob again, while GC deletes
		if err := e.drv.Delete(ctx, cl.Key); err != nil {
			t.Fatal(err)
		}
		done, err := s.GC.FinishDelete(ctx, d, cl.Key)
		if err != nil || done {
			t.Fatalf("finish delete: %v, %v; want not done (revived)", done, err)
		}
		b, err := e.blobs.Stat(ctx, "lib/app", d)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.blobs.Open(ctx, b, 0)
		if err != nil {
			t.Fatalf("revived blob unreadable: %v", err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatal("revived blob has other content")
		}
	})
}

// TestRaceDeleteDuringPull: a client that read a manifest keeps pulling
// its blobs after the manifest is deleted, for the whole grace period.
func TestRaceDeleteDuringPull(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		md, ds := e.image(t, "lib/app", "v1")
		m, err := e.reg.Resolve(ctx, "lib/app", "v1") // the client has the manifest
		if err != nil {
			t.Fatal(err)
		}
		if err := e.reg.DeleteManifest(ctx, "lib/app", md.String()); err != nil {
			t.Fatal(err)
		}
		if r := sweep(t, e, gc.Options{Grace: -1}); r.BlobsDeleted != 0 {
			t.Fatalf("deleted %d within grace", r.BlobsDeleted)
		}
		if !bytes.Contains(m.Payload, []byte(ds[1])) {
			t.Fatal("manifest lacks its layer")
		}
		for _, d := range ds {
			b, err := s.Blobs.GetBlob(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := e.blobs.Open(ctx, b, 0)
			if err != nil {
				t.Fatalf("blob %s unreadable during grace: %v", d, err)
			}
			rc.Close()
		}
	})
}

// TestCrashAfterMark: a worker that dies after marking a blob leaves it
// to the next worker, which finishes the delete.
func TestCrashAfterMark(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		data, _ := randomBlob(t, 10)
		d := e.push(t, "lib/app", data)
		if cl, err := s.GC.Claim(context.Background(), claimNow); err != nil || cl.Outcome != meta.ClaimDelete {
			t.Fatalf("claim: %v %v", cl, err)
		}
		// ... the worker dies here.
		if r := sweep(t, e, now); r.BlobsDeleted != 1 || stored(t, e, d) {
			t.Fatalf("next sweep: %+v; want the marked blob deleted", r)
		}
	})
}

type readOnlyOn struct{}

func (readOnlyOn) ReadOnly(context.Context) (bool, error) { return true, nil }

// TestPausedInReadOnly: GC does nothing while read-only mode is on.
func TestPausedInReadOnly(t *testing.T) {
	s := metatest.OpenSQLite(t)
	e := newEnv(t, s)
	data, _ := randomBlob(t, 10)
	d := e.push(t, "lib/app", data)
	paused := gc.New(s.GC, e.drv, readOnlyOn{}, nil, slog.New(slog.DiscardHandler))
	r, err := paused.Sweep(context.Background(), now)
	if err != nil || !r.Paused || r.BlobsDeleted != 0 || !stored(t, e, d) {
		t.Fatalf("sweep in read-only mode: %+v, %v; want paused, nothing deleted", r, err)
	}
}

// TestDryRun lists exactly what the real run then deletes.
func TestDryRun(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		for range 3 {
			data, _ := randomBlob(t, 10)
			e.push(t, "lib/app", data)
		}
		e.image(t, "lib/app", "v1")
		dry := sweep(t, e, gc.Options{Grace: 0, DryRun: true})
		real := sweep(t, e, now)
		if dry.BlobsDeleted != 3 || real.BlobsDeleted != 3 || dry.BytesFreed != real.BytesFreed {
			t.Fatalf("dry run %+v, real run %+v; want the same 3 blobs", dry, real)
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// TestBackupLeaseHoldsBlobs: a backup lease taken before a blob lost its
// last reference keeps it until the lease is released (issue 11's hook).
func TestBackupLeaseHoldsBlobs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		md, ds := e.image(t, "lib/app", "v1")
		leaseEnd := time.Now().Add(2 * time.Second)
		if err := s.GC.AcquireLease(ctx, "backup-1", "test", time.Now().Add(-time.Second), leaseEnd); err != nil {
			t.Fatal(err)
		}
		if err := e.reg.DeleteManifest(ctx, "lib/app", md.String()); err != nil {
			t.Fatal(err)
		}
		if r := sweep(t, e, now); r.BlobsDeleted != 0 || !stored(t, e, ds[1]) {
			t.Fatalf("under a lease: %+v, want nothing deleted", r)
		}
		if err := s.GC.ReleaseLease(ctx, "backup-1"); err != nil {
			t.Fatal(err)
		}
		// The reviews were postponed to the lease's end: due then.
		time.Sleep(time.Until(leaseEnd) + 100*time.Millisecond)
		if r := sweep(t, e, now); r.BlobsDeleted != 2 || stored(t, e, ds[1]) {
			t.Fatalf("after the lease: %+v, want both blobs deleted", r)
		}
	})
}
