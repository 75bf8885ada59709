// Package webui is Berth's web portal, served at / by every replica:
// server-rendered pages (html/template), with their CSS and a little plain
// JavaScript embedded in the binary.
//
// It calls the domain services in-process (internal/project,
// internal/repository, identity, settings, access) and reads the metadata
// store through small interfaces of its own; it never writes projects,
// repositories, manifests or tags through meta (depcheck), never calls the
// REST API over HTTP, and must not import another edge package (restapi,
// distapi, tokenauth). Sessions, CSRF and logins are internal/websession's,
// the same rules as the REST API: an HTML form carries the session's CSRF
// token in a hidden field, which the edge hands to websession as the
// header it checks.
//
// Layout: webui.go (Deps, routes, the handler adapter, security headers,
// the one error table), render.go (templates and their helpers), i18n.go
// (message catalogs), then one file per area: auth.go, projects.go,
// project.go, repository.go, admin.go.
package webui
