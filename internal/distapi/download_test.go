package distapi_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestBlobDownloadRanges: blob GETs answer exactly the bytes asked for,
// whole or by range, on both storage paths (the filesystem's file goes to
// the socket with sendfile in blocks of 256 KiB; S3 streams through a
// reader). The blob spans several blocks and does not end on a boundary.
func TestBlobDownloadRanges(t *testing.T) { forEachServer(t, testBlobDownloadRanges) }

func testBlobDownloadRanges(t *testing.T, c *client) {
	data := make([]byte, 1<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	d := c.pushBlob("lib/big", data)
	path := "/v2/lib/big/blobs/" + d.String()
	size := len(data)
	span := func(from, to int) string { // Content-Range of an inclusive span
		return "bytes " + itoa(from) + "-" + itoa(to) + "/" + itoa(size)
	}

	r := c.do("GET", path, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, data) || r.header.Get("Content-Length") != itoa(size) {
		t.Fatalf("whole GET: %d, %d bytes (equal %v), Content-Length %q", r.status, len(r.body), bytes.Equal(r.body, data), r.header.Get("Content-Length"))
	}
	for _, tc := range []struct {
		rng      string
		from, to int // inclusive
	}{
		{"bytes=0-0", 0, 0},
		{"bytes=0-511", 0, 511},
		{"bytes=100-700", 100, 700}, // crosses the first 512 bytes net/http copies itself
		{"bytes=262143-262145", 262143, 262145},
		{"bytes=300000-", 300000, size - 1},
		{"bytes=-70000", size - 70000, size - 1},
		{"bytes=262144-" + itoa(3*262144-1), 262144, 3*262144 - 1},
		{"bytes=" + itoa(size-1) + "-" + itoa(size+100), size - 1, size - 1},
	} {
		r := c.do("GET", path, nil, "Range", tc.rng)
		if r.status != http.StatusPartialContent || r.header.Get("Content-Range") != span(tc.from, tc.to) ||
			!bytes.Equal(r.body, data[tc.from:tc.to+1]) {
			t.Fatalf("GET %s: %d, Content-Range %q, %d bytes (want %d, equal %v)", tc.rng, r.status,
				r.header.Get("Content-Range"), len(r.body), tc.to+1-tc.from, bytes.Equal(r.body, data[tc.from:tc.to+1]))
		}
	}

	// Two ranges: a multipart answer whose parts hold exactly those bytes.
	r = c.do("GET", path, nil, "Range", "bytes=10-19,700000-999999")
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if r.status != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("GET of two ranges: %d %q %v", r.status, r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for _, want := range [][2]int{{10, 19}, {700000, 999999}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Range") != span(want[0], want[1]) || !bytes.Equal(got, data[want[0]:want[1]+1]) {
			t.Fatalf("part %q: %d bytes, want %v", p.Header.Get("Content-Range"), len(got), want)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("a third part: %v", err)
	}

	c.want(c.do("GET", path, nil, "Range", "bytes="+strconv.Itoa(size)+"-"), http.StatusRequestedRangeNotSatisfiable, "")
	r = c.do("GET", path, nil, "If-None-Match", `"`+d.String()+`"`)
	if r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Fatalf("conditional GET: %d, %d bytes", r.status, len(r.body))
	}
	// A GET of a blob another repository holds is still refused.
	r = c.do("GET", strings.Replace(path, "lib/big", "lib/other", 1), nil)
	c.want(r, http.StatusNotFound, "BLOB_UNKNOWN")
}
