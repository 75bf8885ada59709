package access

import (
	"fmt"
	"strings"
)

// Role is a project role. The numbers are Harbor's role ids, so they can
// travel through the Harbor-shaped REST API unchanged.
type Role int

// Project roles, from most to least powerful: ProjectAdmin, Maintainer,
// Developer, Guest, LimitedGuest.
const (
	RoleProjectAdmin Role = 1
	RoleDeveloper    Role = 2
	RoleGuest        Role = 3
	RoleMaintainer   Role = 4
	RoleLimitedGuest Role = 5
)

// Roles lists every role, most powerful first.
func Roles() []Role {
	return []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest}
}

// String returns Harbor's role name (projectAdmin, maintainer, ...).
func (r Role) String() string {
	switch r {
	case RoleProjectAdmin:
		return "projectAdmin"
	case RoleMaintainer:
		return "maintainer"
	case RoleDeveloper:
		return "developer"
	case RoleGuest:
		return "guest"
	case RoleLimitedGuest:
		return "limitedGuest"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole accepts a role name (any case) or Harbor's role id.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if strings.EqualFold(s, r.String()) || s == fmt.Sprint(int(r)) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q: want projectAdmin, maintainer, developer, guest or limitedGuest", s)
}

// Valid reports whether r is one of the five roles.
func (r Role) Valid() bool { return r.bit() != 0 }

// Rank orders roles by power: ProjectAdmin 5 ... LimitedGuest 1; 0 for an
// unknown role.
func (r Role) Rank() int {
	switch r {
	case RoleProjectAdmin:
		return 5
	case RoleMaintainer:
		return 4
	case RoleDeveloper:
		return 3
	case RoleGuest:
		return 2
	case RoleLimitedGuest:
		return 1
	}
	return 0
}

// Has reports whether r grants perm in its project.
func (r Role) Has(perm Permission) bool {
	b := r.bit()
	if b == 0 {
		return false
	}
	for _, row := range matrix {
		if row.perm == perm {
			return row.roles&b != 0
		}
	}
	return false
}

// Resource is what an action applies to, named as in Harbor's RBAC and
// robot permissions.
type Resource string

// Resources of the project scope (and, for system robots, namespace "/").
const (
	ResourceProject          Resource = "project" // the project itself (Harbor's "self")
	ResourceMember           Resource = "member"
	ResourceMetadata         Resource = "metadata"
	ResourceLog              Resource = "log"
	ResourceQuota            Resource = "quota"
	ResourceRepository       Resource = "repository"
	ResourceArtifact         Resource = "artifact"
	ResourceArtifactAddition Resource = "artifact-addition"
	ResourceTag              Resource = "tag"
	ResourceAccessory        Resource = "accessory"
	ResourceRobot            Resource = "robot"
	ResourceScan             Resource = "scan"
	ResourceTagRetention     Resource = "tag-retention"
	ResourceImmutableTag     Resource = "immutable-tag"
	ResourceWebhook          Resource = "notification-policy"
	ResourceConfiguration    Resource = "configuration"
	ResourceLabel            Resource = "label"
	ResourceArtifactLabel    Resource = "artifact-label"
)

// Action is what is done to a resource.
type Action string

// Actions.
const (
	ActionPull    Action = "pull"
	ActionPush    Action = "push"
	ActionCreate  Action = "create"
	ActionRead    Action = "read"
	ActionUpdate  Action = "update"
	ActionDelete  Action = "delete"
	ActionList    Action = "list"
	ActionStop    Action = "stop"
	ActionOperate Action = "operate"
)

// Permission is an action on a resource.
type Permission struct {
	Resource Resource
	Action   Action
}

func (p Permission) String() string { return string(p.Resource) + ":" + string(p.Action) }

// roleSet is a set of roles as bits.
type roleSet uint8

const (
	pa roleSet = 1 << iota // ProjectAdmin
	ma                     // Maintainer
	de                     // Developer
	gu                     // Guest
	lg                     // LimitedGuest

	adminUp      = pa
	maintainerUp = pa | ma
	developerUp  = pa | ma | de
	guestUp      = pa | ma | de | gu
	everyRole    = pa | ma | de | gu | lg
)

func (r Role) bit() roleSet {
	switch r {
	case RoleProjectAdmin:
		return pa
	case RoleMaintainer:
		return ma
	case RoleDeveloper:
		return de
	case RoleGuest:
		return gu
	case RoleLimitedGuest:
		return lg
	}
	return 0
}

type matrixRow struct {
	perm  Permission
	roles roleSet
}

// matrix is Harbor's project permission matrix for the resources Berth
// has, as data: who holds each permission in a project. It is read only.
// docs/auth.md shows it as a table; a test keeps the two equal.
var matrix = []matrixRow{
	{Permission{ResourceProject, ActionRead}, everyRole},
	{Permission{ResourceProject, ActionUpdate}, adminUp},
	{Permission{ResourceProject, ActionDelete}, adminUp},

	{Permission{ResourceMember, ActionCreate}, adminUp},
	{Permission{ResourceMember, ActionRead}, guestUp},
	{Permission{ResourceMember, ActionUpdate}, adminUp},
	{Permission{ResourceMember, ActionDelete}, adminUp},
	{Permission{ResourceMember, ActionList}, guestUp},

	{Permission{ResourceMetadata, ActionCreate}, maintainerUp},
	{Permission{ResourceMetadata, ActionRead}, maintainerUp},
	{Permission{ResourceMetadata, ActionUpdate}, maintainerUp},
	{Permission{ResourceMetadata, ActionDelete}, maintainerUp},

	{Permission{ResourceLog, ActionList}, guestUp},
	{Permission{ResourceQuota, ActionRead}, everyRole},

	{Permission{ResourceRepository, ActionPull}, everyRole},
	{Permission{ResourceRepository, ActionPush}, developerUp},
	{Permission{ResourceRepository, ActionCreate}, developerUp},
	{Permission{ResourceRepository, ActionRead}, guestUp},
	{Permission{ResourceRepository, ActionUpdate}, developerUp},
	{Permission{ResourceRepository, ActionDelete}, maintainerUp},
	{Permission{ResourceRepository, ActionList}, everyRole},

	{Permission{ResourceArtifact, ActionCreate}, developerUp},
	{Permission{ResourceArtifact, ActionRead}, everyRole},
	{Permission{ResourceArtifact, ActionDelete}, maintainerUp},
	{Permission{ResourceArtifact, ActionList}, everyRole},
	{Permission{ResourceArtifactAddition, ActionRead}, everyRole},

	{Permission{ResourceTag, ActionList}, everyRole},
	{Permission{ResourceTag, ActionCreate}, developerUp},
	{Permission{ResourceTag, ActionDelete}, maintainerUp},
	{Permission{ResourceAccessory, ActionList}, everyRole},

	{Permission{ResourceLabel, ActionCreate}, maintainerUp},
	{Permission{ResourceLabel, ActionRead}, guestUp},
	{Permission{ResourceLabel, ActionUpdate}, maintainerUp},
	{Permission{ResourceLabel, ActionDelete}, maintainerUp},
	{Permission{ResourceLabel, ActionList}, guestUp},
	{Permission{ResourceArtifactLabel, ActionCreate}, developerUp},
	{Permission{ResourceArtifactLabel, ActionDelete}, developerUp},

	{Permission{ResourceRobot, ActionCreate}, adminUp},
	{Permission{ResourceRobot, ActionRead}, guestUp},
	{Permission{ResourceRobot, ActionUpdate}, adminUp},
	{Permission{ResourceRobot, ActionDelete}, adminUp},
	{Permission{ResourceRobot, ActionList}, guestUp},

	{Permission{ResourceScan, ActionCreate}, maintainerUp},
	{Permission{ResourceScan, ActionRead}, everyRole},
	{Permission{ResourceScan, ActionStop}, maintainerUp},

	{Permission{ResourceTagRetention, ActionCreate}, maintainerUp},
	{Permission{ResourceTagRetention, ActionRead}, maintainerUp},
	{Permission{ResourceTagRetention, ActionUpdate}, maintainerUp},
	{Permission{ResourceTagRetention, ActionDelete}, maintainerUp},
	{Permission{ResourceTagRetention, ActionList}, maintainerUp},
	{Permission{ResourceTagRetention, ActionOperate}, maintainerUp},

	{Permission{ResourceImmutableTag, ActionCreate}, maintainerUp},
	{Permission{ResourceImmutableTag, ActionUpdate}, maintainerUp},
	{Permission{ResourceImmutableTag, ActionDelete}, maintainerUp},
	{Permission{ResourceImmutableTag, ActionList}, maintainerUp},

	{Permission{ResourceWebhook, ActionCreate}, adminUp},
	{Permission{ResourceWebhook, ActionRead}, adminUp},
	{Permission{ResourceWebhook, ActionUpdate}, adminUp},
	{Permission{ResourceWebhook, ActionDelete}, adminUp},
	{Permission{ResourceWebhook, ActionList}, maintainerUp},

	{Permission{ResourceConfiguration, ActionRead}, everyRole},
	{Permission{ResourceConfiguration, ActionUpdate}, adminUp},
}

// permSet is a read-only set of permissions.
type permSet []Permission

func (s permSet) has(p Permission) bool {
	for _, q := range s {
		if q == p {
			return true
		}
	}
	return false
}

// publicPermissions are what everyone, anonymous included, holds in a
// public project: see it, pull from it and read its artifacts.
var publicPermissions = permSet{
	{ResourceProject, ActionRead},
	{ResourceRepository, ActionList},
	{ResourceRepository, ActionRead},
	{ResourceRepository, ActionPull},
	{ResourceArtifact, ActionRead},
	{ResourceArtifact, ActionList},
	{ResourceArtifactAddition, ActionRead},
	{ResourceTag, ActionList},
	{ResourceAccessory, ActionList},
}

// MatrixRow is one line of the permission matrix, for documentation and
// the REST API: the permission and, per role, whether it is held.
type MatrixRow struct {
	Permission Permission
	Holders    map[Role]bool
	Public     bool // held by everyone in a public project
}

// Matrix returns the permission matrix in its fixed order.
func Matrix() []MatrixRow {
	out := make([]MatrixRow, 0, len(matrix))
	for _, row := range matrix {
		h := map[Role]bool{}
		for _, r := range Roles() {
			h[r] = row.roles&r.bit() != 0
		}
		out = append(out, MatrixRow{Permission: row.perm, Holders: h, Public: publicPermissions.has(row.perm)})
	}
	return out
}
