package distapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage"
)

// apiError is an error the edge raises itself, with its OCI code and status.
type apiError struct {
	code   string
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(code string, status int, format string, a ...any) error {
	return &apiError{code: code, status: status, msg: fmt.Sprintf(format, a...)}
}

// ociErrors maps domain errors to the spec's error codes, once, in order:
// the first target errors.Is matches wins.
var ociErrors = []struct {
	target error
	code   string
	status int
}{
	{oci.ErrNameInvalid, "NAME_INVALID", http.StatusBadRequest},
	{oci.ErrTagInvalid, "TAG_INVALID", http.StatusBadRequest},
	{oci.ErrDigestInvalid, "DIGEST_INVALID", http.StatusBadRequest},
	{content.ErrDigestMismatch, "DIGEST_INVALID", http.StatusBadRequest},
	{registry.ErrDigestMismatch, "DIGEST_INVALID", http.StatusBadRequest},
	{registry.ErrManifestTooLarge, "MANIFEST_INVALID", http.StatusRequestEntityTooLarge},
	{oci.ErrManifestInvalid, "MANIFEST_INVALID", http.StatusBadRequest},
	{registry.ErrManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	{registry.ErrManifestChildUnknown, "MANIFEST_UNKNOWN", http.StatusBadRequest},
	// A manifest an index or a referrer still needs: the client is allowed
	// to delete, but not yet (zot answers DENIED too, with 405).
	{registry.ErrManifestReferenced, "DENIED", http.StatusConflict},
	// A tag an immutable tag rule protects: Harbor's 403 DENIED, the
	// message naming the rule.
	{immutable.ErrImmutable, "DENIED", http.StatusForbidden},
	{content.ErrSizeInvalid, "SIZE_INVALID", http.StatusBadRequest},
	{content.ErrRangeInvalid, "BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable},
	{content.ErrUploadInvalid, "BLOB_UPLOAD_INVALID", http.StatusBadRequest},
	{meta.ErrUploadNotFound, "BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	// Too many open sessions clears as sessions finish or expire: 429, so
	// clients back off and retry (a 403 DENIED would read as final).
	{content.ErrTooManyUploads, "TOOMANYREQUESTS", http.StatusTooManyRequests},
	// Storage quota: Harbor answers a push over quota with 403 DENIED and
	// a message quoting the usage, the request and the limit.
	{meta.ErrQuotaExceeded, "DENIED", http.StatusForbidden},
	// An upload placed where garbage collection is deleting: push again.
	{meta.ErrBlobDeleting, "UNAVAILABLE", http.StatusServiceUnavailable},
	{meta.ErrBlobNotFound, "BLOB_UNKNOWN", http.StatusNotFound},
	{storage.ErrNotFound, "BLOB_UNKNOWN", http.StatusNotFound},
	{meta.ErrManifestNotFound, "MANIFEST_UNKNOWN", http.StatusNotFound},
	{meta.ErrTagNotFound, "MANIFEST_UNKNOWN", http.StatusNotFound},
	{meta.ErrRepositoryNotFound, "NAME_UNKNOWN", http.StatusNotFound},
	{meta.ErrUnavailable, "UNAVAILABLE", http.StatusServiceUnavailable},
	{access.ErrUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized},
	{identity.ErrInvalidCredentials, "UNAUTHORIZED", http.StatusUnauthorized},
	{identity.ErrDisabled, "UNAUTHORIZED", http.StatusUnauthorized},
	{identity.ErrExpired, "UNAUTHORIZED", http.StatusUnauthorized},
	{identity.ErrThrottled, "TOOMANYREQUESTS", http.StatusTooManyRequests},
	{identity.ErrBackendUnavailable, "UNAVAILABLE", http.StatusServiceUnavailable},
	{access.ErrDenied, "DENIED", http.StatusForbidden},
	{meta.ErrProjectNotFound, "NAME_UNKNOWN", http.StatusNotFound},
}

// classify returns the OCI code, HTTP status and client-safe message for err.
func classify(err error) (code string, status int, msg string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, ae.status, ae.msg
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "SIZE_INVALID", http.StatusRequestEntityTooLarge, "request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	}
	for _, e := range ociErrors {
		if errors.Is(err, e.target) {
			msg := err.Error()
			if e.status >= 500 {
				msg = "a dependency is unavailable; retry later"
			}
			return e.code, e.status, msg
		}
	}
	return "UNKNOWN", http.StatusInternalServerError, "internal error"
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := classify(err)
	if status >= 500 {
		a.log.ErrorContext(r.Context(), "request failed", "err", err, "method", r.Method, "path", r.URL.Path)
	}
	httpx.WriteError(w, status, code, msg, err) // with Retry-After on 429 and 503
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, b)
}

// writeJSONBytes writes b, an encoded JSON document.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
