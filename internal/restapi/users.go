package restapi

import "net/http"

// accountStore is the metadata store as the user, member, robot and audit
// log endpoints use it.
type accountStore interface{}

// accountManager is the identity service as the user and robot endpoints
// use it.
type accountManager interface{}

// accountRoutes registers the users, members, robots, configurations,
// LDAP and audit log endpoints.
func (a *API) accountRoutes(mux *http.ServeMux) {}
