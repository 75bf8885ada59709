package restapi_test

import "github.com/berth-registry/berth/internal/restapi"

// The package's JSON shapes and constants, by the names the account tests
// were written with (see export_test.go).
type (
	permissionJSON   = restapi.PermissionJSON
	robotJSON        = restapi.RobotJSON
	memberJSON       = restapi.MemberJSON
	configItem       = restapi.ConfigItem
	auditLogJSON     = restapi.AuditLogJSON
	auditLogExtJSON  = restapi.AuditLogExtJSON
	robotCreatedJSON = restapi.RobotCreatedJSON
	userJSON         = restapi.UserJSON
	ldapUserJSON     = restapi.LDAPUserJSON
	ldapPingJSON     = restapi.LDAPPingJSON
	ldapGroupJSON    = restapi.LDAPGroupJSON
	userSearchJSON   = restapi.UserSearchJSON
	robotSecJSON     = restapi.RobotSecJSON
)

const (
	Prefix             = restapi.Prefix
	codeBadRequest     = restapi.CodeBadRequest
	auditRobot         = restapi.AuditRobot
	auditConfiguration = restapi.AuditConfiguration
)
