package hatest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

// TestHAConformance runs the OCI distribution-spec conformance suite
// (BERTH_TEST_CONFORMANCE) through haproxy against the HA topology, so
// that consecutive requests of one workflow land on different replicas.
// It must report no failures and no errors.
func TestHAConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("HA conformance starts a whole cluster; skipped with -short")
	}
	bin := testenv.Require(t, "BERTH_TEST_CONFORMANCE")
	c := StartCluster(t, Options{Redis: true})

	work := filepath.Join(c.Dir, "conformance")
	results := filepath.Join(work, "results")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	// Its own working directory, so that no stray oci-conformance.yaml is
	// read; the deprecated OCI_ROOT_URL/OCI_NAMESPACE names are not used.
	cmd.Dir = work
	cmd.Env = append(baseEnv(),
		"OCI_REGISTRY="+strings.TrimPrefix(c.URL, "http://"),
		"OCI_TLS=disabled",
		// In the project every Berth has; pushing elsewhere needs a project.
		"OCI_REPO1=library/conformance-repo1",
		"OCI_REPO2=library/conformance-repo2",
		"OCI_USERNAME="+adminUser,
		"OCI_PASSWORD="+adminPassword,
		"OCI_VERSION=1.1",
		"OCI_RESULTS_DIR="+results,
		"OCI_API_PULL=true", "OCI_API_PUSH=true", "OCI_API_TAGS_LIST=true", "OCI_API_REFERRER=true",
		"OCI_API_BLOBS_DELETE=true", "OCI_API_MANIFESTS_DELETE=true", "OCI_API_TAGS_DELETE=true",
		"OCI_DATA_SHA512=true",
	)
	logPath := filepath.Join(c.Dir, "conformance.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	dur := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("conformance suite did not finish in time: %v\n%s", ctx.Err(), tail(logPath, 40))
	}

	// It exits 0 without a report when misconfigured: the report decides.
	r, err := testenv.ReadConformance(results)
	if err != nil {
		t.Fatalf("conformance (exit: %v): %v\n%s", runErr, err, tail(logPath, 40))
	}
	t.Logf("ha conformance through haproxy: %s of %d, duration=%v (report %s)",
		r, r.Tests, dur.Round(time.Second), filepath.Join(results, "report.html"))
	if !r.OK() {
		for _, name := range r.Failed {
			t.Errorf("conformance: %s", name)
		}
		t.Errorf("conformance through haproxy: %s", r)
	}
	if t.Failed() {
		t.Logf("---- tail of conformance output ----\n%s", tail(logPath, 60))
	}
}
