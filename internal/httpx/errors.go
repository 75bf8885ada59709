package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ErrorItem is one entry of the error body both edges answer with: OCI's
// and Harbor's {"errors":[{"code":...,"message":...}]}.
type ErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is {"errors":[...]}.
type ErrorBody struct {
	Errors []ErrorItem `json:"errors"`
}

// Retry-After defaults, when the error does not say.
const (
	UnavailableRetry = 5 * time.Second // 503: a dependency is down
	ThrottledRetry   = time.Minute     // 429
)

// retryIn is implemented by errors that know when a retry can succeed
// (identity.ThrottledError).
type retryIn interface{ RetryIn() time.Duration }

// WriteError writes status with the error body {code, message}. For 429
// and 503 it sets Retry-After: when err (or what it wraps) says when to
// retry, that, rounded up to whole seconds; else UnavailableRetry or
// ThrottledRetry. Every edge writes its errors through it.
func WriteError(w http.ResponseWriter, status int, code, msg string, err error) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		retry := UnavailableRetry
		if status == http.StatusTooManyRequests {
			retry = ThrottledRetry
		}
		var ri retryIn
		if errors.As(err, &ri) && ri.RetryIn() > 0 {
			retry = ri.RetryIn()
		}
		w.Header().Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
	}
	WriteJSON(w, status, ErrorBody{Errors: []ErrorItem{{Code: code, Message: msg}}})
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"encode response"}]}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away: nothing to do
}
