// Package replication owns registry endpoints, replication policies and
// their executions, and the upstream side of proxy-cache projects.
//
// Endpoints (Harbor's /registries) keep their secret sealed with AES-GCM
// under a Keyring from the operator's key file: the newest key encrypts,
// every key decrypts, Reencrypt moves old secrets to the newest key. A
// secret goes in through the API and never comes out of it.
//
// An execution of a policy is a JobScan job that lists the source's
// artifacts passing the filters and records one task per artifact, then
// one JobTask job per task. A task copies one digest with
// go-containerregistry (an index with every child manifest; blobs
// streamed, skipped when the destination has them, mounted across
// repositories of the same registry), then its tags (kept when they exist
// elsewhere unless the policy overrides), then what refers to it: cosign's
// sha256-<hex>.sig/.att/.sbom tags and OCI referrers. A failed attempt is
// retried by River with backoff up to MaxTaskAttempts; a stop request
// stops pending tasks at once and cancels running ones within a second.
// A running attempt holds a lease on its task, renewed every few seconds;
// JobReclaim queues again a task whose lease went stale (its replica
// died), and chunked uploads resume from the location the last attempt
// saved.
// Copies are by digest and skip what exists, so running a policy again
// is idempotent.
//
// The local Berth is reached over its own /v2/ on loopback with a
// registry token minted per task for the repositories it touches, so
// every rule of the registry (references checked, quotas, audit) applies
// to replicated content as to any push.
package replication
