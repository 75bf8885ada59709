// Package httpx holds the HTTP middleware every edge shares: request IDs,
// the request record (route, status, bytes) that logging and metrics read,
// access logs and panic recovery. It knows nothing about registries.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Log attribute keys.
const (
	keyRequestID = "request_id"
	keyMethod    = "method"
	keyPath      = "path"
	keyStatus    = "status"
	keyBytesIn   = "bytes_in"
	keyBytesOut  = "bytes_out"
	keyDuration  = "duration_ms"
	keyRoute     = "route"
	keyRemote    = "remote"
)

// Record is what one request did; middleware fills it as the request runs.
type Record struct {
	ID       string
	Route    string
	Status   int
	BytesIn  int64
	BytesOut int64
	Start    time.Time
}

type recordKey struct{}

// FromContext returns the request's record, or nil outside a request.
func FromContext(ctx context.Context) *Record {
	r, _ := ctx.Value(recordKey{}).(*Record)
	return r
}

// RequestID returns the request's ID, or "".
func RequestID(ctx context.Context) string {
	if r := FromContext(ctx); r != nil {
		return r.ID
	}
	return ""
}

// SetRoute names the route a request took (a low-cardinality metrics label).
func SetRoute(ctx context.Context, route string) {
	if r := FromContext(ctx); r != nil {
		r.Route = route
	}
}

// Track creates the request record, sets X-Request-Id, counts bytes in and
// out, and calls done (for logs and metrics) when the request ends.
func Track(done func(*http.Request, *Record)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &Record{ID: r.Header.Get("X-Request-Id"), Start: time.Now(), Route: "other"}
			if rec.ID == "" || len(rec.ID) > 64 {
				rec.ID = newID()
			}
			w.Header().Set("X-Request-Id", rec.ID)
			r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &countingBody{ReadCloser: r.Body, n: &rec.BytesIn}
			}
			rw := &recordingWriter{ResponseWriter: w, rec: rec}
			defer func() { done(r, rec) }()
			next.ServeHTTP(rw, r)
			if rec.Status == 0 {
				rec.Status = http.StatusOK
			}
		})
	}
}

// AccessLog logs one line per request.
func AccessLog(log *slog.Logger, r *http.Request, rec *Record) {
	log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String(keyRequestID, rec.ID),
		slog.String(keyMethod, r.Method),
		slog.String(keyPath, r.URL.Path),
		slog.String(keyRoute, rec.Route),
		slog.Int(keyStatus, rec.Status),
		slog.Int64(keyBytesIn, rec.BytesIn),
		slog.Int64(keyBytesOut, rec.BytesOut),
		slog.Float64(keyDuration, float64(time.Since(rec.Start).Microseconds())/1000),
		slog.String(keyRemote, r.RemoteAddr),
	)
}

// Recover turns a panic in a handler into a 500 and a log line.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "handler panic", keyRequestID, RequestID(r.Context()), "panic", v)
					http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"internal error"}]}`, http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	*c.n += int64(n)
	return n, err
}

type recordingWriter struct {
	http.ResponseWriter
	rec *Record
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.rec.Status == 0 {
		w.rec.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.rec.BytesOut += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's ReadFrom reachable by io.Copy
// (net/http's sends a file with sendfile).
func (w *recordingWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	w.rec.BytesOut += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
