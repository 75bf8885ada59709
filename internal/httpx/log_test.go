package httpx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLogHandlerAddsRequestID: a line logged with a request's context
// carries its request_id (once, even when the caller also gave one); a
// line logged outside a request carries none.
func TestLogHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	var id string
	h := Track(func(*http.Request, *Record) {})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id = RequestID(r.Context())
		log.ErrorContext(r.Context(), "request failed", "err", "boom")
		log.With("component", "x").WarnContext(r.Context(), "with attrs")
		log.ErrorContext(r.Context(), "explicit", keyRequestID, id)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v2/", nil))
	log.Info("outside a request")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d log lines, want 4:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		if n := strings.Count(l, `"request_id"`); (i < 3 && n != 1) || (i == 3 && n != 0) {
			t.Errorf("line %d has request_id %d times: %s", i, n, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if i < 3 && m["request_id"] != id {
			t.Errorf("line %d: request_id = %v, want %s", i, m["request_id"], id)
		}
	}
	if LogHandler(log.Handler()) != log.Handler() {
		t.Error("LogHandler wrapped an already wrapped handler")
	}
}
