// Package hatest holds Berth's high-availability tests. It has no
// non-test code: everything lives in _test.go files, and nothing may import
// it.
//
// The harness (cluster_test.go) starts the whole local HA topology that
// docs/ha.md describes, on free loopback ports under one temporary
// directory: a PostgreSQL database, a SeaweedFS master with
// -defaultReplication=001, three volume servers, a filer with its S3
// gateway, Redis, three Berth replicas sharing the database and the bucket,
// and haproxy round-robin in front. Every process runs in its own process
// group with its output in a log file; all are SIGKILLed when the test ends,
// whatever happens, and the logs' tails are printed when it fails.
//
// TestHAChaos pushes images with chunked uploads through haproxy while a
// replica and a volume server are killed, then pulls everything through
// every replica and runs `berth fsck`. TestHAConformance runs the OCI
// distribution-spec conformance suite through haproxy.
//
// Environment (each missing one skips the tests, or fails them under CI,
// see testenv.Require):
//
//	BERTH_TEST_WEED          path to the weed binary (scripts/services/seaweedfs.sh build)
//	BERTH_TEST_POSTGRES      PostgreSQL server DSN (metatest.PostgresDSN)
//	BERTH_TEST_CONFORMANCE   path to the conformance binary (TestHAConformance only)
//	BERTH_TEST_BERTH_BIN     a built berth binary (optional: built with go build if unset)
//	BERTH_TEST_KEEP=1        keep the temporary directory (logs, data) after the test
//
// haproxy and redis-server are taken from PATH.
package hatest
