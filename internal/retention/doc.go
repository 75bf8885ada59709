// Package retention owns tag retention: a project's policy (Harbor's
// RetentionPolicy: rules made of a template, its parameters, tag selectors
// and repository selectors), the selection of what a policy keeps (pure
// functions over candidates: the union of every rule's retained artifacts
// is kept, every other artifact of a repository in scope goes), and runs
// of a policy (a dry run that records what would go, a real run that
// deletes exactly that through the repository service, so that audit,
// quotas and garbage collection reviews follow), recorded as executions
// with one task per repository.
//
// Artifacts carrying a tag an immutability rule protects are never
// deleted.
//
// It must not import net/http, an edge package or a concrete storage
// driver, and it writes no project, repository, manifest or tag row
// itself: deletions go through the repository service (Deleter).
package retention
