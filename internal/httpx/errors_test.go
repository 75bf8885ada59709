package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type waitErr struct{ d time.Duration }

func (e waitErr) Error() string          { return "wait" }
func (e waitErr) RetryIn() time.Duration { return e.d }

func TestWriteErrorRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   string
	}{
		{"503 default", http.StatusServiceUnavailable, errors.New("db down"), "5"},
		{"429 default", http.StatusTooManyRequests, errors.New("slow down"), "60"},
		{"429 from the error, rounded up", http.StatusTooManyRequests, fmt.Errorf("login: %w", waitErr{1500 * time.Millisecond}), "2"},
		{"404 has none", http.StatusNotFound, waitErr{time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tt.status, "CODE", "msg", tt.err)
			if got := rec.Header().Get("Retry-After"); got != tt.want || rec.Code != tt.status {
				t.Errorf("status %d Retry-After %q, want %d %q", rec.Code, got, tt.status, tt.want)
			}
			if got := rec.Body.String(); got != `{"errors":[{"code":"CODE","message":"msg"}]}` {
				t.Errorf("body %s", got)
			}
		})
	}
}
