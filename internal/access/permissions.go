package access

import "time"

// System-level resources checked with CanSystem besides those of the
// project matrix (project creation, robots, configuration, audit logs).
const (
	ResourceUser     Resource = "user"
	ResourceLDAPUser Resource = "ldap-user"
)

// systemPermissions are the system-level permissions Berth checks with
// CanSystem, in a fixed order. It is read only.
var systemPermissions = []Permission{
	{ResourceProject, ActionCreate},
	{ResourceUser, ActionCreate},
	{ResourceUser, ActionRead},
	{ResourceUser, ActionUpdate},
	{ResourceUser, ActionDelete},
	{ResourceUser, ActionList},
	{ResourceLDAPUser, ActionList},
	{ResourceRobot, ActionCreate},
	{ResourceRobot, ActionRead},
	{ResourceRobot, ActionUpdate},
	{ResourceRobot, ActionDelete},
	{ResourceRobot, ActionList},
	{ResourceLog, ActionList},
	{ResourceConfiguration, ActionRead},
	{ResourceConfiguration, ActionUpdate},
}

// ProjectPermissions returns the permissions of the matrix that p holds in
// proj (Can for each), in the matrix's order: everything for an active
// system administrator, a user's role column, a robot's scopes, plus the
// public permissions of a public project; nothing for a disabled or
// expired principal.
func ProjectPermissions(p Principal, proj Project) []Permission {
	now := time.Now()
	out := []Permission{}
	for _, row := range matrix {
		if can(p, proj, row.perm, now) {
			out = append(out, row.perm)
		}
	}
	return out
}

// SystemPermissions returns the system-level permissions p holds
// (CanSystem for each), in a fixed order: all of them for an active
// system administrator, those a system robot holds on namespace "/",
// none for anyone else.
func SystemPermissions(p Principal) []Permission {
	out := []Permission{}
	for _, perm := range systemPermissions {
		if CanSystem(p, perm.Resource, perm.Action) {
			out = append(out, perm)
		}
	}
	return out
}
