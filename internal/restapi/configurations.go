package restapi

// Settings is the system settings service (*settings.Service) as the API
// uses it.
type Settings interface{}
