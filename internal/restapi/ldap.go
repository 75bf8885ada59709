package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity/ldap"
)

// LDAP endpoints: system administrators test the settings and search the
// directory (to pick users and groups as project members). They use the
// settings in force whatever the auth mode, so that an administrator can
// check the LDAP settings before switching auth_mode to ldap_auth.

// ldapConfReq is Harbor's LdapConf, plus the group settings: the settings
// to test. Fields left out keep the value in force. An empty or missing
// ldap_search_password keeps the stored one (the portal never has it),
// but only while the password would go where it always goes: see
// movesPassword.
type ldapConfReq struct {
	URL                      *string `json:"ldap_url"`
	SearchDN                 *string `json:"ldap_search_dn"`
	SearchPassword           *string `json:"ldap_search_password"`
	BaseDN                   *string `json:"ldap_base_dn"`
	Filter                   *string `json:"ldap_filter"`
	UID                      *string `json:"ldap_uid"`
	Scope                    *int    `json:"ldap_scope"`
	ConnectionTimeout        *int    `json:"ldap_connection_timeout"`
	Timeout                  *int    `json:"ldap_timeout"`
	VerifyCert               *bool   `json:"ldap_verify_cert"`
	StartTLS                 *bool   `json:"ldap_start_tls"`
	GroupBaseDN              *string `json:"ldap_group_base_dn"`
	GroupFilter              *string `json:"ldap_group_search_filter"`
	GroupNameAttribute       *string `json:"ldap_group_attribute_name"`
	GroupAdminDN             *string `json:"ldap_group_admin_dn"`
	GroupMembershipAttribute *string `json:"ldap_group_membership_attribute"`
	GroupScope               *int    `json:"ldap_group_search_scope"`
}

// movesPassword reports whether q would send the search password of c
// somewhere else or less safely: another server, another search DN, or
// StartTLS or certificate checks turned off. The stored password then
// stays home; the body must bring one.
func (q ldapConfReq) movesPassword(c ldap.Config) bool {
	return (q.URL != nil && strings.TrimSpace(*q.URL) != strings.TrimSpace(c.URL)) ||
		(q.SearchDN != nil && strings.TrimSpace(*q.SearchDN) != strings.TrimSpace(c.SearchDN)) ||
		(q.StartTLS != nil && !*q.StartTLS && c.StartTLS) ||
		(q.VerifyCert != nil && !*q.VerifyCert && c.VerifyCert)
}

// apply overrides c with the fields given; the stored search password is
// dropped when q moves it (movesPassword).
func (q ldapConfReq) apply(c *ldap.Config) {
	if q.movesPassword(*c) {
		c.SearchPassword = ""
	}
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setS(&c.URL, q.URL)
	setS(&c.SearchDN, q.SearchDN)
	if q.SearchPassword != nil && *q.SearchPassword != "" {
		c.SearchPassword = *q.SearchPassword
	}
	setS(&c.BaseDN, q.BaseDN)
	setS(&c.Filter, q.Filter)
	setS(&c.UID, q.UID)
	if q.Scope != nil {
		c.Scope = ldap.Scope(*q.Scope)
	}
	if q.ConnectionTimeout != nil {
		c.Timeout = *q.ConnectionTimeout
	}
	if q.Timeout != nil {
		c.Timeout = *q.Timeout
	}
	if q.VerifyCert != nil {
		c.VerifyCert = *q.VerifyCert
	}
	if q.StartTLS != nil {
		c.StartTLS = *q.StartTLS
	}
	setS(&c.GroupBaseDN, q.GroupBaseDN)
	setS(&c.GroupFilter, q.GroupFilter)
	setS(&c.GroupNameAttribute, q.GroupNameAttribute)
	setS(&c.GroupAdminDN, q.GroupAdminDN)
	setS(&c.GroupMembershipAttribute, q.GroupMembershipAttribute)
	if q.GroupScope != nil {
		c.GroupScope = ldap.Scope(*q.GroupScope)
	}
}

// ldapPingJSON is Harbor's LdapPingResult.
type ldapPingJSON struct {
	Success bool   `json:"success"`
	Message string `json:"message,omitempty"`
}

// pingLDAP is POST /ldap/ping (system administrators): it connects, binds
// with the search DN and reads the base DNs, with the settings in the
// body over those in force (or those in force alone when the body is
// empty). As in Harbor, the answer is 200 {"success": true} or 200
// {"success": false, "message": what went wrong} (the server refused the
// search password, a base DN is missing, the server cannot be reached
// ...): the test's result, not a failure of Berth. A body that is not
// JSON is a 400. The stored search password is only used to bind as the
// stored search DN at the stored server (movesPassword).
func (a *API) pingLDAP(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceConfiguration, access.ActionUpdate); err != nil {
		return err
	}
	cur, err := a.currentSettings(r.Context())
	if err != nil {
		return err
	}
	cfg := cur.LDAP
	body, err := io.ReadAll(r.Body) // bounded by the adapter
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 { // the body is optional
		var req ldapConfReq
		if err := json.Unmarshal(body, &req); err != nil {
			return errBadRequest("request body is not a valid LDAP configuration: %v", err)
		}
		req.apply(&cfg)
		if req.movesPassword(cur.LDAP) && cfg.SearchPassword == "" && cfg.SearchDN != "" {
			return writeJSON(w, http.StatusOK, ldapPingJSON{Message: "ldap_search_password is required: the stored one is " +
				"only sent to the stored ldap_url as the stored ldap_search_dn, with TLS as stored"})
		}
	}
	if err := cfg.Validate(); err != nil {
		return writeJSON(w, http.StatusOK, ldapPingJSON{Message: "ldap ping failed: " + err.Error()})
	}
	if err := ldap.Ping(r.Context(), cfg); err != nil {
		a.log.InfoContext(r.Context(), "ldap ping failed", "err", err, "ldap", cfg)
		return writeJSON(w, http.StatusOK, ldapPingJSON{Message: "ldap ping failed: " + err.Error()})
	}
	return writeJSON(w, http.StatusOK, ldapPingJSON{Success: true})
}

// errLDAPNotConfigured answers the directory searches while no LDAP
// server is set, with Harbor's status for it (its searches fail to
// connect: 500).
func errLDAPNotConfigured() error {
	return newError(codeInternal, http.StatusInternalServerError,
		"LDAP is not configured: ldap_url is empty; set the LDAP settings with PUT %s/configurations", Prefix)
}

// ldapUserJSON is Harbor's LdapUser.
type ldapUserJSON struct {
	Username string `json:"username"`
	Realname string `json:"realname"`
	Email    string `json:"email"`
}

// searchLDAPUsers is GET /ldap/users/search?username= (system
// administrators): directory users whose login name contains username (all
// when empty), at most 100.
func (a *API) searchLDAPUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceLDAPUser, access.ActionList); err != nil {
		return err
	}
	cur, err := a.currentSettings(r.Context())
	if err != nil {
		return err
	}
	if strings.TrimSpace(cur.LDAP.URL) == "" {
		return errLDAPNotConfigured()
	}
	users, err := ldap.SearchUsers(r.Context(), cur.LDAP, r.URL.Query().Get("username"), 0)
	if err != nil {
		return err
	}
	out := make([]ldapUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, ldapUserJSON{Username: u.Username, Realname: u.DisplayName, Email: u.Email})
	}
	return writeJSON(w, http.StatusOK, out)
}

// ldapGroupJSON is Harbor's UserGroup for an LDAP group (group_type 1).
// Berth keeps no group table: id is always 0 and ldap_group_dn names the
// group.
type ldapGroupJSON struct {
	ID          int64  `json:"id"`
	GroupName   string `json:"group_name"`
	GroupType   int    `json:"group_type"`
	LDAPGroupDN string `json:"ldap_group_dn"`
}

// groupTypeLDAP is Harbor's group_type of LDAP groups.
const groupTypeLDAP = 1

// searchLDAPGroups is GET /ldap/groups/search?groupname=&groupdn= (system
// administrators): with groupdn, that group; else the groups whose name
// contains groupname (all when empty), at most 100.
func (a *API) searchLDAPGroups(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceLDAPUser, access.ActionList); err != nil {
		return err
	}
	cur, err := a.currentSettings(r.Context())
	if err != nil {
		return err
	}
	if strings.TrimSpace(cur.LDAP.URL) == "" {
		return errLDAPNotConfigured()
	}
	var groups []ldap.Group
	if dn := r.URL.Query().Get("groupdn"); dn != "" {
		g, err := ldap.GroupByDN(r.Context(), cur.LDAP, dn)
		switch {
		case errors.Is(err, ldap.ErrGroupNotFound):
		case err != nil:
			return err
		default:
			groups = append(groups, g)
		}
	} else {
		groups, err = ldap.SearchGroups(r.Context(), cur.LDAP, r.URL.Query().Get("groupname"), 0)
		if err != nil {
			return err
		}
	}
	out := make([]ldapGroupJSON, 0, len(groups))
	for _, g := range groups {
		out = append(out, ldapGroupJSON{GroupName: g.Name, GroupType: groupTypeLDAP, LDAPGroupDN: g.DN})
	}
	return writeJSON(w, http.StatusOK, out)
}
