package distapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fileSink is a ResponseWriter with a ReadFrom, as net/http's is: it
// records what each ReadFrom was handed.
type fileSink struct {
	*httptest.ResponseRecorder
	calls []string // "file N" for a limited file, else the source's type
}

func (s *fileSink) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			s.calls = append(s.calls, "file "+strconv.FormatInt(lr.N, 10))
		} else {
			s.calls = append(s.calls, "limited other")
		}
	} else {
		s.calls = append(s.calls, "other")
	}
	return io.Copy(s.ResponseRecorder, src)
}

// TestProgressWriterSendsFiles: a file, whole or limited as
// http.ServeContent passes it, reaches the underlying ReadFrom as one
// io.LimitedReader of the *os.File per block of at most sendBlock (the
// shape net's sendfile path takes), and exactly the bytes asked for go.
// Any other reader is copied through the pool's blocks.
func TestProgressWriterSendsFiles(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*sendBlock+1000)/16)
	name := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		skip, lim int64 // lim < 0: the bare file
		wantCalls []string
	}{
		{"whole file", 0, -1, []string{"file 262144", "file 262144", "file 262144"}},
		{"limited", 100, sendBlock + 5, []string{"file 262144", "file 5"}},
		{"limited to the end", 7, int64(len(data)) - 7, []string{"file 262144", "file 262144", "file 985"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Seek(tc.skip, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var src io.Reader = f
			var lr *io.LimitedReader
			want := data[tc.skip:]
			if tc.lim >= 0 {
				lr = &io.LimitedReader{R: f, N: tc.lim}
				src, want = lr, want[:tc.lim]
			}
			sink := &fileSink{ResponseRecorder: httptest.NewRecorder()}
			p := &progressWriter{ResponseWriter: sink, bufs: newCopyBuffers(), rc: http.NewResponseController(sink), timeout: time.Minute}
			n, err := p.ReadFrom(src) // as io.Copy from a LimitedReader (http.ServeContent's) does
			if err != nil || n != int64(len(want)) || !bytes.Equal(sink.Body.Bytes(), want) {
				t.Fatalf("copied %d (%v), want %d; body equal %v", n, err, len(want), bytes.Equal(sink.Body.Bytes(), want))
			}
			if strings.Join(sink.calls, ",") != strings.Join(tc.wantCalls, ",") {
				t.Fatalf("ReadFrom calls %q, want %q", sink.calls, tc.wantCalls)
			}
			if lr != nil && lr.N != 0 {
				t.Fatalf("limited reader left with N=%d, want 0", lr.N)
			}
		})
	}
	t.Run("not a file", func(t *testing.T) {
		sink := &fileSink{ResponseRecorder: httptest.NewRecorder()}
		p := &progressWriter{ResponseWriter: sink, bufs: newCopyBuffers(), rc: http.NewResponseController(sink), timeout: time.Minute}
		if _, err := io.Copy(p, io.LimitReader(bytes.NewReader(data), 1000)); err != nil {
			t.Fatal(err)
		}
		if len(sink.calls) != 0 || !bytes.Equal(sink.Body.Bytes(), data[:1000]) {
			t.Fatalf("calls %q, %d bytes", sink.calls, sink.Body.Len())
		}
	})
}
