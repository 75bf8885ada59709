package replication_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestPeerPushReplication pushes a multi-arch image with a cosign
// signature and an SBOM (oras attach) from Berth to a second Berth and to
// Distribution 2.8, checks digests, signature and SBOM on both, that a
// re-run copies nothing, and that the registry secret appears in no
// response and no log.
func TestPeerPushReplication(t *testing.T) {
	cosign, oras := tool(t, "cosign"), tool(t, "oras")
	ctx := t.Context()
	a := apptest.Start(t)
	b := apptest.Start(t)
	dist := startDistribution(t, t.TempDir(), 0)

	// The source: library/app:v1 (two platforms), signed, with an SBOM.
	idx := multiArch(t, 64<<10, 2)
	if err := remote.WriteIndex(ref(t, a.Addr+"/library/app:v1"), idx, adminAuth); err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(32<<10, 1)
	if err := remote.Write(ref(t, a.Addr+"/library/app:v2"), img, adminAuth); err != nil {
		t.Fatal(err)
	}
	other, _ := random.Image(1024, 1)
	if err := remote.Write(ref(t, a.Addr+"/library/skip:v1"), other, adminAuth); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	work := t.TempDir()
	env := []string{"HOME=" + work, "DOCKER_CONFIG=" + dockerConfig(t, a.Addr), "COSIGN_PASSWORD=", "COSIGN_YES=true",
		"TUF_ROOT=" + filepath.Join(work, "tuf")}
	cosignCmd := func(args ...string) string { return run(t, ctx, env, cosign, args...) }
	keyDir := filepath.Join(work, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmdInDir(t, ctx, env, keyDir, cosign, "generate-key-pair")
	subject := a.Addr + "/library/app@" + d.String()
	cosignCmd("sign", "--key", filepath.Join(keyDir, "cosign.key"), "--tlog-upload=false", "-y",
		"--allow-http-registry", "--allow-insecure-registry", subject)
	sbom := filepath.Join(work, "sbom.spdx.json")
	if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, env, oras, "attach", "--plain-http", "--disable-path-validation", "-u", "admin", "-p", apptest.AdminPassword,
		"--artifact-type", "application/spdx+json", subject, sbom+":application/spdx+json")
	sigTag := strings.Replace(d.String(), ":", "-", 1) + ".sig"
	sigDigest := digestOf(t, a.Addr+"/library/app:"+sigTag, adminAuth)
	sbomDigest := referrerOf(t, a.Addr+"/library/app@"+d.String(), adminAuth)

	const secret = apptest.AdminPassword
	toB := addRegistry(t, a, "berth-b", "berth", b.URL, "admin", secret)
	toDist := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	rest(t, a, http.MethodPost, "registries/ping", map[string]any{"id": toB}, http.StatusOK)
	rest(t, a, http.MethodPost, "registries/ping", map[string]any{"id": toDist}, http.StatusOK)

	filters := []map[string]any{{"type": "name", "value": "library/app"}, {"type": "tag", "value": "v{1,2}"}}
	for _, dest := range []struct {
		name string
		id   int64
		host string
		opts []remote.Option
	}{
		{"berth", toB, b.Addr, []remote.Option{adminAuth}},
		{"distribution", toDist, dist.Addr, nil},
	} {
		t.Run(dest.name, func(t *testing.T) {
			pid := pushPolicy(t, a, "to-"+dest.name, dest.id, filters, nil)
			e := waitExecution(t, a, startExecution(t, a, pid), 3*time.Minute)
			if e.Status != "Succeed" || e.Total != 2 || e.Succeed != 2 || e.Bytes == 0 {
				t.Fatalf("execution: %+v\n%s", e, taskLogs(t, a, e.ID))
			}
			if got := digestOf(t, dest.host+"/library/app:v1", dest.opts...); got != d.String() {
				t.Errorf("v1 on %s = %s, want %s", dest.name, got, d)
			}
			im, _ := idx.IndexManifest()
			for _, m := range im.Manifests { // every platform image, by digest
				if got := digestOf(t, dest.host+"/library/app@"+m.Digest.String(), dest.opts...); got != m.Digest.String() {
					t.Errorf("child %s: %s", m.Digest, got)
				}
			}
			imgDigest, _ := img.Digest()
			if got := digestOf(t, dest.host+"/library/app:v2", dest.opts...); got != imgDigest.String() {
				t.Errorf("v2 on %s = %s, want %s", dest.name, got, imgDigest)
			}
			if got := digestOf(t, dest.host+"/library/app:"+sigTag, dest.opts...); got != sigDigest {
				t.Errorf("cosign signature %s on %s = %s, want %s", sigTag, dest.name, got, sigDigest)
			}
			if got := referrerOf(t, dest.host+"/library/app@"+d.String(), dest.opts...); got != sbomDigest {
				t.Errorf("SBOM referrer on %s = %s, want %s", dest.name, got, sbomDigest)
			}
			if _, err := remote.Head(ref(t, dest.host+"/library/skip:v1"), dest.opts...); err == nil {
				t.Errorf("library/skip was replicated despite the name filter")
			}
			// The signature verifies on the destination.
			pub := filepath.Join(keyDir, "cosign.pub")
			venv := append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+pub, "DOCKER_CONFIG="+dockerConfig(t, dest.host))
			run(t, ctx, venv, cosign, "verify", "--key", pub, "--insecure-ignore-tlog=true",
				"--allow-http-registry", "--allow-insecure-registry", dest.host+"/library/app@"+d.String())

			// Again: nothing left to copy.
			again := waitExecution(t, a, startExecution(t, a, pid), 2*time.Minute)
			if again.Status != "Succeed" || again.Total != 2 {
				t.Fatalf("re-run: %+v\n%s", again, taskLogs(t, a, again.ID))
			}
			if again.Bytes > 16<<10 { // manifests only at most, no blob
				t.Errorf("re-run sent %d bytes, want no blobs", again.Bytes)
			}
			if dest.name != "berth" {
				return
			}
			// The destination's signature policy holds for what was
			// replicated: with the signing key on its project, the signed
			// index pulls and the unsigned image is refused.
			pubPEM, err := os.ReadFile(pub)
			if err != nil {
				t.Fatal(err)
			}
			rest(t, b, http.MethodPost, "projects/library/signature-keys",
				map[string]string{"name": "release", "public_key": string(pubPEM)}, http.StatusCreated)
			deadline := time.Now().Add(30 * time.Second) // the policy is cached for a few seconds
			for {
				_, err = remote.Get(ref(t, b.Addr+"/library/app:v2"), adminAuth)
				if err != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err == nil || !strings.Contains(err.Error(), "DENIED") {
				t.Errorf("pull of the unsigned replicated image under the signature policy: %v, want DENIED", err)
			}
			if _, err := remote.Get(ref(t, b.Addr+"/library/app@"+d.String()), adminAuth); err != nil {
				t.Errorf("pull of the signed replicated index under the signature policy: %v", err)
			}
		})
	}

	// The secret never leaves through the API or the log.
	for _, path := range []string{"registries", "registries/" + itoa(toB), "replication/policies",
		"replication/executions", "registries/" + itoa(toB) + "/info"} {
		if r := rest(t, a, http.MethodGet, path, nil, http.StatusOK); strings.Contains(string(r.Body), secret) {
			t.Errorf("GET %s holds the registry secret", path)
		}
	}
	if strings.Contains(a.Logs(), secret) {
		t.Error("the server log holds the registry secret")
	}
	metrics := string(a.Do(t, apptest.Cred{}, http.MethodGet, "/metrics", nil).Body)
	for _, m := range []string{"berth_replication_bytes_total ", `berth_replication_tasks_total{status="Succeed"} 8`,
		`berth_replication_execution_duration_seconds_count{status="Succeed"} 4`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// referrerOf returns the digest of the one referrer of subject (the OCI
// referrers API, or the tag fallback on Distribution 2.8).
func referrerOf(t *testing.T, subject string, opts ...remote.Option) string {
	t.Helper()
	r := ref(t, subject)
	idx, err := remote.Referrers(r.Context().Digest(r.Identifier()), opts...)
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, m := range im.Manifests {
		if m.ArtifactType == "application/spdx+json" {
			ds = append(ds, m.Digest.String())
		}
	}
	if len(ds) != 1 {
		b, _ := json.Marshal(im)
		t.Fatalf("referrers of %s: want one SBOM, got %s", subject, b)
	}
	return ds[0]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
