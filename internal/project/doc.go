// Package project owns the rules for projects, the unit of ownership whose
// name is the first path component of every repository: which names are
// valid, who may create a project (the project_creation_restriction
// setting, read through the settings service), that the creating user
// becomes its owner and a ProjectAdmin, that only an empty project can be
// deleted, its visibility (public or private) and which projects a caller
// may see; and that every change is written to the audit log.
//
// The edges (restapi today, the portal next) call Service in-process and
// check the caller's permission on an existing project (access.Can)
// before calling it; Service checks the rules that need no existing
// project (creation) and the rules of the data. It reaches the metadata
// store through small interfaces declared here (Stores).
//
// It must not import net/http, an edge package (distapi, restapi,
// tokenauth, webui) or a concrete storage driver.
package project
