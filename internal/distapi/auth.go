package distapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
)

// authorizer decides who may do what on /v2/ (tokenauth.Gate in
// production). distapi knows nothing of tokens or passwords.
type authorizer interface {
	// Authorize authenticates r and checks that it may perform actions
	// (pull, push, delete) on repository repo; with repo "" only that the
	// credentials are valid. It returns the context to serve r with.
	// Errors are mapped by errors.go: access.ErrUnauthorized and identity's
	// credential errors become 401 with a challenge, access.ErrDenied 403,
	// a missing project NAME_UNKNOWN, a throttled login 429.
	Authorize(r *http.Request, repo string, actions []string) (context.Context, error)
	// Allowed reports whether the caller authorized in ctx may also perform
	// actions on repo (the source of a cross-repository mount).
	Allowed(ctx context.Context, repo string, actions []string) bool
	// FilterVisible returns the repositories of repos the caller authorized
	// in ctx may pull, in order. Visibility is decided per project (the
	// first path segment): the catalog skips a hidden project's
	// repositories together.
	FilterVisible(ctx context.Context, repos []string) ([]string, error)
}

// denyAll is the authorizer of an API built without one.
type denyAll struct{}

func (denyAll) Authorize(r *http.Request, _ string, _ []string) (context.Context, error) {
	return r.Context(), access.ErrUnauthorized
}
func (denyAll) Allowed(context.Context, string, []string) bool { return false }
func (denyAll) FilterVisible(context.Context, []string) ([]string, error) {
	return []string{}, nil
}

// Registry actions, as Docker token scopes name them.
const (
	actionPull   = "pull"
	actionPush   = "push"
	actionDelete = "delete"
)

// actionsFor returns the actions a request needs on its repository.
// Reads need pull; manifest and blob deletes need delete; everything an
// upload session does (start, mount, PATCH, PUT, status, cancel) needs
// push, so the pusher can always abandon its own session.
func actionsFor(t target, method string) []string {
	switch t.route {
	case "base", "catalog":
		return nil
	case "upload":
		return []string{actionPush}
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return []string{actionPull}
	case http.MethodDelete:
		return []string{actionDelete}
	}
	return []string{actionPush}
}

// challenge returns the WWW-Authenticate value sending the client to the
// token service for the scope it needs.
func (a *API) challenge(r *http.Request, t target, actions []string) string {
	realm := a.opts.TokenRealm
	if realm == "" {
		scheme := "http"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		realm = scheme + "://" + r.Host + "/service/token"
	}
	v := `Bearer realm=` + strconv.Quote(realm) + `,service=` + strconv.Quote(a.opts.service())
	switch {
	case t.route == "catalog":
		v += `,scope="registry:catalog:*"`
	case t.repo != "" && len(actions) > 0:
		scope := strings.Join(actions, ",")
		if actions[0] == actionPush { // clients pushing also read: ask for both at once
			scope = actionPull + "," + actionPush
		}
		v += `,scope=` + strconv.Quote("repository:"+t.repo+":"+scope)
	}
	return v
}

// writeAuthError answers a failed authorization, with a challenge when it
// is a 401.
func (a *API) writeAuthError(w http.ResponseWriter, r *http.Request, t target, actions []string, err error) {
	if _, status, _ := classify(err); status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", a.challenge(r, t, actions))
	}
	a.writeError(w, r, err)
}
