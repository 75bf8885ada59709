package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVersionAgrees builds berth with a version set by the linker, as a
// release build does, and checks that `berth version` and
// /api/v2.0/systeminfo report it alike.
func TestVersionAgrees(t *testing.T) {
	const want = "v9.8.7-test"
	dir := t.TempDir()
	bin := filepath.Join(dir, "berth")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin,
		"-ldflags", "-X github.com/berth-registry/berth/internal/version.version="+want, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	out, err := exec.CommandContext(t.Context(), bin, "version").Output()
	if err != nil {
		t.Fatalf("berth version: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "berth "+want {
		t.Errorf("berth version printed %q, want %q", got, "berth "+want)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	serve := exec.CommandContext(ctx, bin, "serve")
	const password = "version-test-Pw1"
	serve.Env = append(os.Environ(), "BERTH_HTTP_ADDR="+addr, "BERTH_DATA_DIR="+filepath.Join(dir, "data"),
		"BERTH_ADMIN_PASSWORD="+password, "BERTH_CONFIG=", "BERTH_DATABASE_URL=", "BERTH_STORAGE_TYPE=")
	var logs bytes.Buffer
	serve.Stdout, serve.Stderr = &logs, &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("berth serve output:\n%s", logs.String())
		}
	})

	var info struct {
		HarborVersion string `json:"harbor_version"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/api/v2.0/systeminfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", password)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&info)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("systeminfo did not answer within 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if info.HarborVersion != want {
		t.Errorf("systeminfo harbor_version = %q, want %q (berth version printed %q)", info.HarborVersion, want, strings.TrimSpace(string(out)))
	}
}
