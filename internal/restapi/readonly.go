package restapi

import (
	"net/http"

	"github.com/berth-registry/berth/internal/settings"
)

// codeDenied is Harbor's code for a change refused in read-only mode.
const codeDenied = "DENIED"

// readOnlyExempt reports whether the route (routeName's form) stays open
// while read_only is on, as in Harbor: the settings endpoint, so that
// read-only mode can be turned off, and the portal login.
func readOnlyExempt(route string) bool {
	switch route {
	case "api PUT /configurations", "api POST /c/login":
		return true
	}
	return false
}

// checkWritable refuses a request that would change something (any method
// but GET, HEAD and OPTIONS) while read_only is on, with Harbor's answer:
// 403 DENIED "The system is in read only mode. Any modification is
// prohibited.". It runs before authentication, as Harbor's check does, so
// every caller gets the same answer. Without a settings service nothing is
// read-only.
func (a *API) checkWritable(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if a.d.Settings == nil {
		return nil
	}
	cur, err := a.d.Settings.Get(r.Context())
	if err != nil {
		return err
	}
	if cur.ReadOnly {
		return newError(codeDenied, http.StatusForbidden, "%s", settings.ReadOnlyMessage)
	}
	return nil
}
