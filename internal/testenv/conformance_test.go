package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		name   string
		xml    string
		want   ConformanceReport
		wantOK bool
	}{
		{"all pass", `<testsuites tests="3" failures="0" errors="0" skipped="1" disabled="0">
			<testsuite><testcase name="a"/><testcase name="b"/><testcase name="c"><skipped/></testcase></testsuite></testsuites>`,
			ConformanceReport{Tests: 3, Skipped: 1}, true},
		{"one failure", `<testsuites tests="2" failures="1" errors="0" skipped="0" disabled="0">
			<testsuite><testcase name="a"/><testcase name="push b"><failure message="x"/></testcase></testsuite></testsuites>`,
			ConformanceReport{Tests: 2, Failures: 1, Failed: []string{"push b"}}, false},
		{"error", `<testsuites tests="1" errors="1"><testsuite><testcase name="e"><error/></testcase></testsuite></testsuites>`,
			ConformanceReport{Tests: 1, Errors: 1, Failed: []string{"e"}}, false},
		{"nothing ran", `<testsuites tests="2" disabled="2"></testsuites>`,
			ConformanceReport{Tests: 2, Disabled: 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJUnit([]byte(tt.xml))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if got.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v (%s)", got.OK(), tt.wantOK, got)
			}
		})
	}
	if _, err := ParseJUnit([]byte("<testsuites")); err == nil {
		t.Error("ParseJUnit accepted truncated XML")
	}
}

func TestReadConformanceWithoutReport(t *testing.T) {
	dir := t.TempDir()
	// junit.xml alone is not a report: the suite writes results.yaml too.
	if err := os.WriteFile(filepath.Join(dir, "junit.xml"), []byte(`<testsuites tests="1"/>`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConformance(dir); !errors.Is(err, ErrNoConformanceReport) {
		t.Errorf("ReadConformance = %v, want ErrNoConformanceReport", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.yaml"), []byte("x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := ReadConformance(dir)
	if err != nil || r.Tests != 1 || !r.OK() {
		t.Errorf("ReadConformance = %+v, %v; want 1 passing test", r, err)
	}
}
