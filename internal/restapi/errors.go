package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/pattern"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/berth-registry/berth/internal/settings"
)

// Harbor's error codes.
const (
	codeBadRequest       = "BAD_REQUEST"
	codeUnauthorized     = "UNAUTHORIZED"
	codeForbidden        = "FORBIDDEN"
	codeNotFound         = "NOT_FOUND"
	codeConflict         = "CONFLICT"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codePrecondition     = "PRECONDITION"
	codeTooManyRequests  = "TOO_MANY_REQUESTS"
	codeInternal         = "INTERNAL_SERVER_ERROR"
	codeUnavailable      = "UNAVAILABLE"
)

// apiError is an error the edge raises itself, with its code and status.
type apiError struct {
	code   string
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(code string, status int, format string, args ...any) error {
	return &apiError{code: code, status: status, msg: fmt.Sprintf(format, args...)}
}

func errBadRequest(format string, args ...any) error {
	return newError(codeBadRequest, http.StatusBadRequest, format, args...)
}

func errNotFound(format string, args ...any) error {
	return newError(codeNotFound, http.StatusNotFound, format, args...)
}

func errForbidden(format string, args ...any) error {
	return newError(codeForbidden, http.StatusForbidden, format, args...)
}

func errPrecondition(format string, args ...any) error {
	return newError(codePrecondition, http.StatusPreconditionFailed, format, args...)
}

// apiErrors maps domain errors to Harbor's codes, once, in order: the
// first target errors.Is matches wins. Messages of 4xx errors are the
// error's own (domain error strings never hold secrets); 5xx hide them.
var apiErrors = []struct {
	target error
	code   string
	status int
}{
	{meta.ErrUnavailable, codeUnavailable, http.StatusServiceUnavailable},
	{identity.ErrBackendUnavailable, codeUnavailable, http.StatusServiceUnavailable},
	{identity.ErrThrottled, codeTooManyRequests, http.StatusTooManyRequests},
	{access.ErrUnauthorized, codeUnauthorized, http.StatusUnauthorized},
	{identity.ErrInvalidCredentials, codeUnauthorized, http.StatusUnauthorized},
	{identity.ErrDisabled, codeUnauthorized, http.StatusUnauthorized},
	{identity.ErrExpired, codeUnauthorized, http.StatusUnauthorized},
	{access.ErrDenied, codeForbidden, http.StatusForbidden},
	{identity.ErrNotLocal, codeForbidden, http.StatusForbidden},
	{identity.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{oci.ErrNameInvalid, codeBadRequest, http.StatusBadRequest},
	{oci.ErrTagInvalid, codeBadRequest, http.StatusBadRequest},
	{oci.ErrDigestInvalid, codeBadRequest, http.StatusBadRequest},
	// Harbor refuses to delete an artifact an index or a referrer still
	// needs with 412 PRECONDITION.
	{registry.ErrManifestReferenced, codePrecondition, http.StatusPreconditionFailed},
	{project.ErrNameInvalid, codeBadRequest, http.StatusBadRequest},
	{project.ErrCreationRestricted, codeForbidden, http.StatusForbidden},
	{project.ErrExists, codeConflict, http.StatusConflict},
	{project.ErrNotEmpty, codePrecondition, http.StatusPreconditionFailed},
	{repository.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{repository.ErrTagNotAttached, codeNotFound, http.StatusNotFound},
	{repository.ErrArtifactExists, codeConflict, http.StatusConflict},
	{repository.ErrNotImage, codeNotFound, http.StatusNotFound},
	// Berth's own bounds on what one request may read or copy.
	{repository.ErrTooLarge, codePrecondition, http.StatusPreconditionFailed},
	{registry.ErrCopyTooLarge, codePrecondition, http.StatusPreconditionFailed},
	{meta.ErrProjectExists, codeConflict, http.StatusConflict},
	{meta.ErrUserExists, codeConflict, http.StatusConflict},
	{meta.ErrMemberExists, codeConflict, http.StatusConflict},
	{meta.ErrRobotExists, codeConflict, http.StatusConflict},
	{meta.ErrTagExists, codeConflict, http.StatusConflict},
	{meta.ErrProjectNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrRepositoryNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrManifestNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrTagNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrUserNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrMemberNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrRobotNotFound, codeNotFound, http.StatusNotFound},
	{gc.ErrBadSchedule, codeBadRequest, http.StatusBadRequest},
	// Tag retention: Harbor answers 400 to a second policy for a project.
	{retention.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{meta.ErrRetentionExists, codeBadRequest, http.StatusBadRequest},
	{meta.ErrRetentionNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrRetentionExecutionNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrRetentionTaskNotFound, codeNotFound, http.StatusNotFound},
	{retention.ErrQueue, codeUnavailable, http.StatusServiceUnavailable},
	// Over a project's storage quota (an artifact copy): Harbor's 403.
	{meta.ErrQuotaExceeded, codeForbidden, http.StatusForbidden},
	{settings.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{ldap.ErrUnavailable, codeUnavailable, http.StatusServiceUnavailable},
	// The LDAP settings do not work (a rejected search DN, a missing base
	// DN ...): the request cannot be served until an administrator fixes
	// them. The message names the setting and never holds a password.
	{ldap.ErrMisconfigured, codePrecondition, http.StatusPreconditionFailed},
	{ldap.ErrGroupNotFound, codeNotFound, http.StatusNotFound},
	// Labels (labels.go).
	{meta.ErrLabelNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrLabelExists, codeConflict, http.StatusConflict},
	{meta.ErrLabelAttached, codeConflict, http.StatusConflict},
	{meta.ErrLabelNotAttached, codeNotFound, http.StatusNotFound},
	// Tag immutability (immutable.go): a protected tag cannot move or go,
	// Harbor's 412 PRECONDITION, the message naming the rule.
	{immutable.ErrImmutable, codePrecondition, http.StatusPreconditionFailed},
	{immutable.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{pattern.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{meta.ErrImmutableRuleNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrTooManyImmutableRules, codePrecondition, http.StatusPreconditionFailed},
	// Registries and replication (replication.go).
	{replication.ErrInvalid, codeBadRequest, http.StatusBadRequest},
	{replication.ErrUnreachable, codeBadRequest, http.StatusBadRequest},
	{replication.ErrNotRunning, codePrecondition, http.StatusPreconditionFailed},
	{meta.ErrRegistryExists, codeConflict, http.StatusConflict},
	{meta.ErrPolicyExists, codeConflict, http.StatusConflict},
	{meta.ErrRegistryInUse, codePrecondition, http.StatusPreconditionFailed},
	{meta.ErrRegistryNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrPolicyNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrExecutionNotFound, codeNotFound, http.StatusNotFound},
	{meta.ErrTaskNotFound, codeNotFound, http.StatusNotFound},
}

// classify returns the code, status and client-safe message for err.
func classify(err error) (code string, status int, msg string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, ae.status, ae.msg
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return codeBadRequest, http.StatusRequestEntityTooLarge,
			"request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	}
	for _, e := range apiErrors {
		if errors.Is(err, e.target) {
			msg := err.Error()
			if e.status >= 500 {
				msg = "a dependency is unavailable; retry later"
			}
			return e.code, e.status, msg
		}
	}
	return codeInternal, http.StatusInternalServerError, "internal error"
}

// writeError maps err once and writes Harbor's error body. 5xx details go
// to the log with the request ID, never to the client.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := classify(err)
	id := httpx.RequestID(r.Context())
	if status >= 500 {
		a.log.ErrorContext(r.Context(), "api request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		if id != "" {
			msg += " (request ID " + id + ")"
		}
	}
	httpx.WriteError(w, status, code, msg, err)
}
