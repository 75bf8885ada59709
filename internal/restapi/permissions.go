package restapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// permissionJSON is Harbor's Permission: a resource path and an action.
type permissionJSON struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// currentPermissions is GET /users/current/permissions?scope=&relative=,
// Harbor's getCurrentUserPermissions: what the caller (a user, a robot or
// a system administrator; anonymous callers get 401) may do in the scope,
// from the permission matrix and robot scopes (internal/access), as
// [{"resource", "action"}].
//
// Scopes, as in Harbor: "/project/{id}" (or anything under it) lists the
// project permissions, with resources "/project/{id}/repository" ... and
// "/project/{id}" for the project itself; "/system..." lists the
// system-level ones ("/system/user" ...). With relative=true resources are
// relative to the scope ("repository", "." for the scope itself) and those
// outside it are left out. Any other scope, or a project that does not
// exist or that the caller may not see, gives an empty list.
func (a *API) currentPermissions(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	q := r.URL.Query()
	relative := false
	if v := q.Get("relative"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errBadRequest("relative must be true or false")
		}
		relative = b
	}
	scope := truncate(q.Get("scope"), 1024)
	var resources []permissionJSON // absolute resource paths
	if id, ok := projectScope(scope); ok {
		proj, err := a.d.Projects.GetProject(r.Context(), id)
		switch {
		case errors.Is(err, meta.ErrProjectNotFound):
		case err != nil:
			return err
		default:
			ns := "/project/" + strconv.FormatInt(id, 10)
			for _, perm := range access.ProjectPermissions(p, access.ProjectOf(proj)) {
				res := ns + "/" + string(perm.Resource)
				if perm.Resource == access.ResourceProject {
					res = ns // Harbor's "self"
				}
				resources = append(resources, permissionJSON{res, string(perm.Action)})
			}
		}
	} else if strings.HasPrefix(scope, "/system") {
		for _, perm := range access.SystemPermissions(p) {
			resources = append(resources, permissionJSON{"/system/" + string(perm.Resource), string(perm.Action)})
		}
	}
	out := make([]permissionJSON, 0, len(resources))
	for _, perm := range resources {
		if relative {
			rel, ok := relativeTo(perm.Resource, scope)
			if !ok {
				continue
			}
			perm.Resource = rel
		}
		out = append(out, perm)
	}
	return writeJSON(w, http.StatusOK, out)
}

// projectScope reads the project id of a scope "/project/{id}", optionally
// followed by "/..." as Harbor accepts it.
func projectScope(scope string) (int64, bool) {
	rest, ok := strings.CutPrefix(scope, "/project/")
	if !ok {
		return 0, false
	}
	idText, _, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id < 1 {
		return 0, false
	}
	return id, true
}

// relativeTo is resource relative to scope, as Harbor computes it: the
// remainder after the scope, without a leading slash, "." when nothing
// remains; false when resource is not under scope.
func relativeTo(resource, scope string) (string, bool) {
	rest, ok := strings.CutPrefix(resource, scope)
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		rest = "."
	}
	return rest, true
}
