// Package ldap owns Berth's conversation with an LDAP directory for the
// auth mode ldap_auth: the Harbor-named settings (Config), verifying a
// user's password by search-bind-search (Authenticate), checking the
// settings (Ping, behind POST /api/v2.0/ldap/ping), and the user and group
// searches behind Harbor's /api/v2.0/ldap/users/search and
// /api/v2.0/ldap/groups/search.
//
// It knows nothing about Berth's users, projects or roles: callers onboard
// the User it returns and map Group DNs to project members. Every call opens
// its own connection, is bounded by Config.Timeout and by its context, and
// returns errors that match ErrInvalidCredentials, ErrUnavailable or
// ErrMisconfigured with errors.Is. Passwords are never logged nor put in
// error strings.
//
// It imports only the standard library and github.com/go-ldap/ldap/v3; it
// must not import Berth's edge packages (restapi, distapi, tokenauth,
// webui) or the metadata store.
package ldap
