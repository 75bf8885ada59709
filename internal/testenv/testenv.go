// Package testenv owns how tests find the real services they need
// (PostgreSQL, S3, LDAP, ...) and the rule for when one is missing: skip on a
// developer's machine, fail under CI or when BERTH_TEST_REQUIRE_SERVICES is
// set, so a missing service can never make a suite pass silently.
// It is imported by tests only.
package testenv

import (
	"os"
	"os/exec"
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
	if required() {
		tb.Fatalf("%s is not set; scripts/test starts the services", envVar)
	}
	tb.Skipf("%s not set; run scripts/test for real-service tests", envVar)
	return ""
}

// RequireBinary returns the path of the program name found on PATH. When
// it is missing, the test is skipped, or fails under the same rule as
// Require (scripts/test installs every program the tests use).
func RequireBinary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if required() {
		tb.Fatalf("%s is not on PATH; scripts/test installs it: %v", name, err)
	}
	tb.Skipf("%s not on PATH; run scripts/test, which installs it", name)
	return ""
}

// required reports whether a missing service or program fails the test.
func required() bool {
	return os.Getenv("CI") != "" || os.Getenv("BERTH_TEST_REQUIRE_SERVICES") != ""
}
