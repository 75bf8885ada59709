// Package e2e holds Berth's end-to-end tests: real registry clients (skopeo,
// podman, buildah, crane, oras, helm, regctl, cosign) doing round trips
// against a running registry, with digests compared at every step.
//
// The tests read the registry's host:port from BERTH_TEST_REGISTRY (through
// internal/testenv: skipped on a laptop, a failure under CI) and find each
// client on PATH; scripts/test installs the clients, starts a fresh Berth and
// runs them. Each test works in its own repository, e2e/<test>-<random>, so
// they can run in parallel and against a registry that already holds data.
//
// The package has no non-test code and imports nothing from Berth but
// internal/testenv: it sees the server only through its HTTP API.
package e2e
