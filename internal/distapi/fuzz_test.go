package distapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

// maxErrLen bounds the message of every error a parser returns: it goes
// back to the client, so it must not grow with the input.
const maxErrLen = 512

// wantAPIError checks that err maps to code and status and has a short message.
func wantAPIError(t *testing.T, err error, codes ...string) {
	t.Helper()
	code, status, msg := classify(err)
	if len(msg) > maxErrLen {
		t.Fatalf("error message of %d bytes: %.200s", len(msg), msg)
	}
	for i := 0; i+1 < len(codes); i += 2 {
		if code == codes[i] && strconv.Itoa(status) == codes[i+1] {
			return
		}
	}
	t.Fatalf("error %v maps to %s %d, want one of %v", err, code, status, codes)
}

// FuzzParseContentRange: an accepted Content-Range is 0 <= start <= end
// with a length that fits an int64, parses the same in every accepted
// spelling, and becomes a chunk of exactly that extent; anything else is
// 416 BLOB_UPLOAD_INVALID (or 400 SIZE_INVALID when Content-Length
// disagrees), with a short message.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-1", "bytes 0-9/10", "bytes=5-5", "-", "9-1", "a-b", "0-9223372036854775806", "1-9223372036854775807", " bytes  0-0/*", "+1-+2", "0x1-2"} {
		f.Add(s, int64(-1))
	}
	f.Add("0-9", int64(10))
	f.Add("0-9", int64(9))
	f.Fuzz(func(t *testing.T, s string, contentLength int64) {
		start, end, err := parseContentRange(s)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
		} else {
			if start < 0 || end < start || end-start+1 <= 0 {
				t.Fatalf("parseContentRange(%q) = %d, %d", s, start, end)
			}
			for _, spelling := range []string{"%d-%d", "bytes %d-%d/*", "bytes=%d-%d"} {
				v := strings.Replace(strings.Replace(spelling, "%d", strconv.FormatInt(start, 10), 1), "%d", strconv.FormatInt(end, 10), 1)
				s2, e2, err := parseContentRange(v)
				if err != nil || s2 != start || e2 != end {
					t.Fatalf("parseContentRange(%q) = %d, %d, %v; want %d, %d", v, s2, e2, err, start, end)
				}
			}
		}

		r := httptest.NewRequest(http.MethodPatch, "/v2/a/blobs/uploads/x", http.NoBody)
		r.Header.Set("Content-Range", s)
		r.ContentLength = max(contentLength, -1)
		c, cerr := chunkOf(r, r.Body)
		switch {
		case s == "":
			if cerr != nil || c.Start != -1 || c.Length != r.ContentLength {
				t.Fatalf("chunk without Content-Range = %+v, %v", c, cerr)
			}
		case err != nil:
			wantAPIError(t, cerr, "BLOB_UPLOAD_INVALID", "416")
		case cerr != nil:
			wantAPIError(t, cerr, "SIZE_INVALID", "400")
			if r.ContentLength < 0 || r.ContentLength == end-start+1 {
				t.Fatalf("chunkOf refused %q with Content-Length %d: %v", s, r.ContentLength, cerr)
			}
		case c.Start != start || c.Length != end-start+1 || c.Length < 1:
			t.Fatalf("chunk of %q = %+v, want start %d end %d", s, c, start, end)
		}
	})
}

// FuzzPageParams: n and last are accepted only within bounds (0 <= n <=
// MaxListLimit, last at most 512 bytes) or refused with 400
// PAGINATION_NUMBER_INVALID; the Link a page sets leads to the same n and
// last.
func FuzzPageParams(f *testing.F) {
	for _, q := range []string{"", "n=10", "n=0&last=a/b", "n=-1", "n=99999999999999999999", "n=1001", "n=+5", "n=0x10", "last=" + strings.Repeat("x", 513), "n=1&n=2", "last=a%26n%3D5&n=3", "n=%zz"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/v2/_catalog", nil)
		r.URL.RawQuery = rawQuery
		n, last, err := pageParams(r, registry.MaxListLimit)
		if err != nil {
			wantAPIError(t, err, "PAGINATION_NUMBER_INVALID", "400")
			return
		}
		if n < 0 || n > registry.MaxListLimit || len(last) > 512 {
			t.Fatalf("pageParams(%q) = %d, %q", rawQuery, n, last)
		}
		w := httptest.NewRecorder()
		setNextLink(w, "/v2/a/b/tags/list", n, last)
		link := w.Header().Get("Link")
		m := regexp.MustCompile(`^<([^>]*)>; rel="next"$`).FindStringSubmatch(link)
		if m == nil {
			t.Fatalf("Link %q", link)
		}
		u, err := url.Parse(m[1])
		if err != nil || u.Path != "/v2/a/b/tags/list" {
			t.Fatalf("Link %q: %v", link, err)
		}
		r2 := httptest.NewRequest(http.MethodGet, "/v2/a/b/tags/list", nil)
		r2.URL.RawQuery = u.RawQuery
		n2, last2, err := pageParams(r2, registry.MaxListLimit)
		if err != nil || n2 != n || last2 != last {
			t.Fatalf("Link %q gives %d, %q, %v; want %d, %q", link, n2, last2, err, n, last)
		}
	})
}

// allowAll lets every request through (the fuzz targets test parsing, not access).
type allowAll struct{}

func (allowAll) Authorize(r *http.Request, _ string, _ []string) (context.Context, error) {
	return r.Context(), nil
}
func (allowAll) Allowed(context.Context, string, []string) bool { return true }
func (allowAll) FilterVisible(_ context.Context, repos []string) ([]string, error) {
	return repos, nil
}

// FuzzBlobRange: a blob GET with any Range header answers the whole blob
// (200), exactly the requested bytes within the blob (206, one range or
// multipart/byteranges) or 416; never bytes outside the blob, never
// another status.
func FuzzBlobRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-0", "bytes=10-19", "bytes=-5", "bytes=990-", "bytes=0-1,5-6", "bytes=1000-", "bytes=5-2", "bytes=0-18446744073709551616", "items=0-1", "bytes=-0", "bytes= 1 - 2 ,"} {
		f.Add(s)
	}
	store := metatest.OpenSQLite(f)
	drv, err := filesystem.New(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	api := New(content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log), registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log), log, Options{Auth: allowAll{}})
	blob := make([]byte, 1000)
	for i := range blob {
		blob[i] = byte(i % 251)
	}
	d := digest.FromBytes(blob)
	w := httptest.NewRecorder()
	api.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/a/b/blobs/uploads/?digest="+d.String(), bytes.NewReader(blob)))
	if w.Code != http.StatusCreated {
		f.Fatalf("push: %d %s", w.Code, w.Body)
	}
	size := int64(len(blob))

	f.Fuzz(func(t *testing.T, rng string) {
		r := httptest.NewRequest(http.MethodGet, "/v2/a/b/blobs/"+d.String(), nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		body := w.Body.Bytes()
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, blob) {
				t.Fatalf("Range %q: 200 with %d bytes", rng, len(body))
			}
		case http.StatusPartialContent:
			mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
			if err == nil && mt == "multipart/byteranges" {
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				parts := 0
				for {
					p, err := mr.NextPart()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("Range %q: multipart: %v", rng, err)
					}
					b, err := io.ReadAll(p)
					if err != nil {
						t.Fatal(err)
					}
					checkPart(t, rng, p.Header.Get("Content-Range"), b, blob)
					parts++
				}
				if parts < 2 {
					t.Fatalf("Range %q: multipart answer with %d parts", rng, parts)
				}
				return
			}
			checkPart(t, rng, w.Header().Get("Content-Range"), body, blob)
		case http.StatusRequestedRangeNotSatisfiable:
			if cr := w.Header().Get("Content-Range"); cr != "" && cr != "bytes */"+strconv.FormatInt(size, 10) {
				t.Fatalf("Range %q: 416 with Content-Range %q", rng, cr)
			}
			if bytes.Contains(body, blob[:16]) {
				t.Fatalf("Range %q: 416 carrying blob bytes", rng)
			}
		default:
			t.Fatalf("Range %q: status %d", rng, w.Code)
		}
	})
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// checkPart checks one 206 answer (or part): its Content-Range lies inside
// the blob and its bytes are the blob's bytes there.
func checkPart(t *testing.T, rng, cr string, got, blob []byte) {
	t.Helper()
	m := contentRangeRE.FindStringSubmatch(cr)
	if m == nil {
		t.Fatalf("Range %q: 206 with Content-Range %q", rng, cr)
	}
	a, _ := strconv.ParseInt(m[1], 10, 64)
	b, _ := strconv.ParseInt(m[2], 10, 64)
	n, _ := strconv.ParseInt(m[3], 10, 64)
	if n != int64(len(blob)) || a < 0 || b < a || b >= n {
		t.Fatalf("Range %q: Content-Range %q outside the %d-byte blob", rng, cr, len(blob))
	}
	if !bytes.Equal(got, blob[a:b+1]) {
		t.Fatalf("Range %q: %d bytes for %q, not the blob's", rng, len(got), cr)
	}
}

// TestParseContentRangeOverflow: "0-9223372036854775807" is 2^63 bytes,
// whose length does not fit an int64; it must be refused, not become a
// chunk of negative length (which copyChunk takes for "length unknown").
// Found by FuzzParseContentRange.
func TestParseContentRangeOverflow(t *testing.T) {
	if s, e, err := parseContentRange("0-" + strconv.FormatInt(math.MaxInt64, 10)); err == nil {
		t.Fatalf("parseContentRange accepted %d-%d", s, e)
	}
	r := httptest.NewRequest(http.MethodPatch, "/v2/a/blobs/uploads/x", http.NoBody)
	r.Header.Set("Content-Range", "bytes 0-9223372036854775807/*")
	r.ContentLength = -1
	if c, err := chunkOf(r, r.Body); err == nil {
		t.Fatalf("chunkOf = %+v", c)
	}
}
