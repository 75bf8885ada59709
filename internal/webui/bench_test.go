package webui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// BenchmarkRepositoryPage measures the server time of a repository page's
// first page (SQLite, in-process, no network) for a repository with
// 10,000 tags: 10,000 tagged artifacts, and one artifact carrying 10,000
// tags. It prints ms/page.
//
//	go test -run '^$' -bench RepositoryPage ./internal/webui/
func BenchmarkRepositoryPage(b *testing.B) {
	n := benchTags
	cases := []struct {
		name  string
		fill  func(e *env)
		paths []string
	}{
		{"10000 artifacts of one tag", func(e *env) {
			e.seed("p/big", n, 1)
		}, []string{"/repositories/p/big", "/repositories/p/big?page=400", "/projects/p"}},
		{"one artifact of 10000 tags", func(e *env) {
			e.seed("p/big", 1, n)
		}, []string{"/repositories/p/big", "/repositories/p/big/-/artifacts/" + "{digest}"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b)
			e.addProject("p", false)
			start := time.Now()
			c.fill(e)
			b.Logf("filled in %s", time.Since(start).Round(time.Millisecond))
			cookies := e.login("admin", adminPassword).http.Jar.Cookies(mustURL(b, e.srv.URL))
			h := e.srv.Config.Handler
			for _, path := range c.paths {
				path = strings.Replace(path, "{digest}", e.firstDigest("p/big"), 1)
				name := strings.TrimPrefix(path, "/repositories/")
				if i := strings.Index(name, "sha256:"); i >= 0 {
					name = name[:i+len("sha256:")] + "…"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest(http.MethodGet, path, nil)
						for _, ck := range cookies {
							req.AddCookie(ck)
						}
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: %d", path, rec.Code)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
				})
			}
		})
	}
}

// seed stores artifacts images in repo (one pushed through the registry,
// the others written to the store in one transaction: they share its
// blobs and differ by an annotation), each with tagsEach tags.
func (e *env) seed(repo string, artifacts, tagsEach int) {
	e.tb.Helper()
	ctx := e.tb.Context()
	first := e.pushImage(repo, "seed", nil)
	m, err := e.store.Manifests.GetManifest(ctx, repo, first)
	if err != nil {
		e.tb.Fatal(err)
	}
	var img struct {
		Config json.RawMessage   `json:"config"`
		Layers []json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(m.Payload, &img); err != nil {
		e.tb.Fatal(err)
	}
	blobs, err := refsOf(m.Payload)
	if err != nil {
		e.tb.Fatal(err)
	}
	err = e.store.InTx(ctx, func(tx *meta.Store) error {
		for i := range artifacts {
			payload, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": m.MediaType, "config": img.Config,
				"layers": img.Layers, "annotations": map[string]string{"n": fmt.Sprint(i)}})
			if err != nil {
				return err
			}
			d := digest.FromBytes(payload)
			if err := tx.Manifests.PutManifest(ctx, repo, meta.Manifest{Digest: d, MediaType: m.MediaType,
				ArtifactType: m.ArtifactType, Payload: payload}, meta.ManifestRefs{Blobs: blobs}); err != nil {
				return err
			}
			for j := range tagsEach {
				if err := tx.Manifests.PutTag(ctx, repo, fmt.Sprintf("v%05d-%05d", i, j), d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		e.tb.Fatal(err)
	}
}

// refsOf lists the config and layer digests of an image manifest.
func refsOf(payload []byte) ([]digest.Digest, error) {
	var img struct {
		Config struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(payload, &img); err != nil {
		return nil, err
	}
	out := []digest.Digest{img.Config.Digest}
	for _, l := range img.Layers {
		out = append(out, l.Digest)
	}
	return out, nil
}

// firstDigest is the digest of the newest artifact of repo.
func (e *env) firstDigest(repo string) string {
	e.tb.Helper()
	arts, _, err := e.store.Manifests.ListArtifacts(e.tb.Context(), repo, meta.Page{Limit: 1})
	if err != nil || len(arts) == 0 {
		e.tb.Fatalf("artifacts of %s: %v", repo, err)
	}
	return arts[0].Digest.String()
}

// benchTags is the tag count of BenchmarkRepositoryPage.
const benchTags = 10000
