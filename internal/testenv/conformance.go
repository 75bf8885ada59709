package testenv

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ConformanceReport is the verdict of the OCI distribution-spec
// conformance suite, read from the results directory it writes
// (OCI_RESULTS_DIR). scripts/test (through the ociverdict command) and the
// HA conformance test both read it here.
type ConformanceReport struct {
	Tests, Failures, Errors, Skipped, Disabled int
	// Failed names the test cases that failed or errored.
	Failed []string
}

// Passed is the number of test cases that passed.
func (r ConformanceReport) Passed() int {
	return r.Tests - r.Failures - r.Errors - r.Skipped - r.Disabled
}

// OK reports whether the run passed: something passed, nothing failed.
func (r ConformanceReport) OK() bool {
	return r.Failures == 0 && r.Errors == 0 && r.Passed() > 0
}

func (r ConformanceReport) String() string {
	return fmt.Sprintf("%d pass, %d fail, %d error, %d skip, %d disabled",
		r.Passed(), r.Failures, r.Errors, r.Skipped, r.Disabled)
}

// ErrNoConformanceReport means the suite wrote no report: it exits 0
// without one when its configuration is wrong, so the report decides.
var ErrNoConformanceReport = errors.New("conformance suite wrote no report (misconfigured?)")

// maxJUnitBytes bounds the report read; the full suite writes about 1 MB.
const maxJUnitBytes = 64 << 20

// ReadConformance reads the report in dir (results.yaml and junit.xml).
func ReadConformance(dir string) (ConformanceReport, error) {
	for _, f := range []string{"results.yaml", "junit.xml"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			return ConformanceReport{}, fmt.Errorf("%w: %s missing or empty in %s", ErrNoConformanceReport, f, dir)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		return ConformanceReport{}, err
	}
	if len(raw) > maxJUnitBytes {
		return ConformanceReport{}, fmt.Errorf("junit.xml: larger than %d bytes", maxJUnitBytes)
	}
	return ParseJUnit(raw)
}

// ParseJUnit parses the suite's junit.xml: the totals on <testsuites>
// and the names of the failed or errored test cases.
func ParseJUnit(raw []byte) (ConformanceReport, error) {
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Errors   int `xml:"errors,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Disabled int `xml:"disabled,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &suites); err != nil {
		return ConformanceReport{}, fmt.Errorf("junit.xml: %w", err)
	}
	r := ConformanceReport{Tests: suites.Tests, Failures: suites.Failures, Errors: suites.Errors,
		Skipped: suites.Skipped, Disabled: suites.Disabled}
	for _, s := range suites.Suites {
		for _, tc := range s.Cases {
			if tc.Failure != nil || tc.Error != nil {
				r.Failed = append(r.Failed, tc.Name)
			}
		}
	}
	return r, nil
}
