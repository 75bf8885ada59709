package restapi

// The JSON shapes and constants the tests in package restapi_test decode
// and compare with (aliased there under their unexported names).
type (
	PermissionJSON   = permissionJSON
	RobotJSON        = robotJSON
	MemberJSON       = memberJSON
	ConfigItem       = configItem
	AuditLogJSON     = auditLogJSON
	AuditLogExtJSON  = auditLogExtJSON
	RobotCreatedJSON = robotCreatedJSON
	UserJSON         = userJSON
	LDAPUserJSON     = ldapUserJSON
	LDAPPingJSON     = ldapPingJSON
	LDAPGroupJSON    = ldapGroupJSON
	UserSearchJSON   = userSearchJSON
	RobotSecJSON     = robotSecJSON
)

const (
	CodeBadRequest     = codeBadRequest
	AuditRobot         = auditRobot
	AuditConfiguration = auditConfiguration
)
