// Package testenv owns how tests find the real services they need
// (PostgreSQL, S3, LDAP, ...) and the rule for when one is missing: skip on a
// developer's machine, fail under CI or when BERTH_TEST_REQUIRE_SERVICES is
// set, so a missing service can never make a suite pass silently.
// It is imported by tests only.
package testenv

import (
	"os"
	"testing"
)

// Require returns the value of envVar. When it is empty, the test is
// skipped, or fails if env CI or BERTH_TEST_REQUIRE_SERVICES is non-empty.
func Require(tb testing.TB, envVar string) string {
	tb.Helper()
	v := os.Getenv(envVar)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" || os.Getenv("BERTH_TEST_REQUIRE_SERVICES") != "" {
		tb.Fatalf("%s is not set; scripts/test starts the services", envVar)
	}
	tb.Skipf("%s not set; run scripts/test for real-service tests", envVar)
	return ""
}
