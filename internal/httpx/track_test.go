package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readFromRecorder is a ResponseWriter with a ReadFrom, as net/http's is
// (it sends a file with sendfile).
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFroms int
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFroms++
	return io.Copy(r.ResponseRecorder, src)
}

// TestTrackKeepsReadFrom: io.Copy into the tracked writer reaches the
// underlying writer's ReadFrom, and the bytes and status are still
// recorded; a writer without ReadFrom still gets the bytes.
func TestTrackKeepsReadFrom(t *testing.T) {
	for _, withReadFrom := range []bool{true, false} {
		var got *Record
		h := Track(func(_ *http.Request, rec *Record) { got = rec })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(w, io.LimitReader(strings.NewReader(strings.Repeat("x", 5000)), 4000)); err != nil {
				t.Error(err)
			}
		}))
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		var w http.ResponseWriter = rec
		if !withReadFrom {
			w = rec.ResponseRecorder
		}
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v2/x/blobs/y", nil))
		if withReadFrom && rec.readFroms != 1 {
			t.Errorf("underlying ReadFrom called %d times, want 1", rec.readFroms)
		}
		if got == nil || got.BytesOut != 4000 || got.Status != http.StatusOK || rec.Body.Len() != 4000 {
			t.Fatalf("withReadFrom=%v: record %+v, body %d bytes", withReadFrom, got, rec.Body.Len())
		}
	}
}
