// Package repository owns the rules for repositories and what they hold
// as the REST API and the portal see them: which repositories a caller may
// list across projects, a repository's description, deleting a repository
// (every manifest through the registry, then the row), deleting an
// artifact, creating and deleting tags, copying an artifact between
// repositories (blobs linked in the database, never copied in storage)
// and reading an image's build history. Every change is written to the
// audit log, and goes through the registry service so that the shared
// cache forgets what changed.
//
// The edges check the caller's permissions on the projects involved
// (access.Can) before calling Service. The push and pull rules of /v2/
// stay in internal/registry, which this package calls.
//
// It must not import net/http, an edge package (distapi, restapi,
// tokenauth, webui) or a concrete storage driver.
package repository
