package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/testenv"
)

// cosignCLI runs the real cosign against a test server, on loopback only:
// no transparency log, a local Rekor key, a private HOME and TUF root.
type cosignCLI struct {
	t    *testing.T
	path string
	env  []string
}

func newCosign(t *testing.T) cosignCLI {
	work := t.TempDir()
	return cosignCLI{t: t, path: testenv.RequireBinary(t, "cosign"), env: []string{
		"HOME=" + work, "TUF_ROOT=" + filepath.Join(work, "tuf"), "DOCKER_CONFIG=" + filepath.Join(work, "docker"),
		"COSIGN_PASSWORD=", "COSIGN_YES=true", "COSIGN_EXPERIMENTAL=0",
	}}
}

func (c cosignCLI) run(dir string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Env, cmd.Dir = append(os.Environ(), c.env...), dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// keyPair makes a cosign key pair in a new directory and returns it.
func (c cosignCLI) keyPair() string {
	dir := c.t.TempDir()
	c.run(dir, "generate-key-pair")
	return dir
}

func (c cosignCLI) sign(e *env, keyDir, ref string) {
	c.run(keyDir, "sign", "--key", filepath.Join(keyDir, "cosign.key"), "--tlog-upload=false", "-y",
		"--allow-http-registry", "--allow-insecure-registry",
		"--registry-username", "admin", "--registry-password", apptest.AdminPassword, e.srv.Addr+"/"+ref)
}

// TestSignaturePolicy signs images with the real cosign: with the good
// key configured on the project, the image it signed is pulled, one signed
// by another key and an unsigned one are refused with DENIED saying why;
// Harbor's enable_content_trust_cosign alone (no keys) wants a signature
// by anyone; signatures themselves stay pullable.
func TestSignaturePolicy(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		cs := newCosign(t)
		good, other := cs.keyPair(), cs.keyPair()
		e.srv.CreateProject(t, "signed", false)
		imgGood := e.srv.PushImage(t, admin, "signed/app", "good")
		imgOther := e.srv.PushImage(t, admin, "signed/app", "other")
		e.srv.PushImage(t, admin, "signed/app", "unsigned")
		cs.sign(e, good, "signed/app@"+imgGood.Manifest.String())
		cs.sign(e, other, "signed/app@"+imgOther.Manifest.String())

		pull := func(ref string) result {
			return e.do(admin, http.MethodGet, "/v2/signed/app/manifests/"+ref, nil,
				"Accept", "application/vnd.oci.image.manifest.v1+json")
		}
		for _, ref := range []string{"good", "other", "unsigned"} {
			e.must(pull(ref), http.StatusOK) // no policy yet
		}

		pub, err := os.ReadFile(filepath.Join(good, "cosign.pub"))
		if err != nil {
			t.Fatal(err)
		}
		e.must(e.do(admin, http.MethodPost, "projects/signed/signature-keys", map[string]string{"name": "release", "public_key": string(pub)}), http.StatusCreated)
		e.must(e.do(admin, http.MethodPost, "projects/signed/signature-keys", map[string]string{"name": "junk", "public_key": "not a key"}), http.StatusBadRequest)
		e.must(e.do(admin, http.MethodPost, "projects/signed/signature-keys", map[string]string{"name": "again", "public_key": string(pub)}), http.StatusConflict)

		// The policy reaches the pull path within a few seconds (cached).
		var r result
		apptest.Eventually(t, 15*time.Second, func() bool { r = pull("unsigned"); return r.status == http.StatusForbidden })
		if r.status != http.StatusForbidden || r.code != "DENIED" || !strings.Contains(r.msg, "not signed") {
			t.Errorf("unsigned pull: %d %s %q, want 403 DENIED saying it is not signed", r.status, r.code, r.msg)
		}
		r = pull("other")
		if r.status != http.StatusForbidden || r.code != "DENIED" || !strings.Contains(r.msg, "no key the project trusts") {
			t.Errorf("pull signed by another key: %d %s %q, want 403 DENIED naming the unknown key", r.status, r.code, r.msg)
		}
		e.must(pull("good"), http.StatusOK)
		e.must(pull(imgGood.Manifest.String()), http.StatusOK)
		sigTag := strings.Replace(imgOther.Manifest.String(), ":", "-", 1) + ".sig"
		e.must(pull(sigTag), http.StatusOK) // signatures stay readable

		// Keys go; Harbor's flag alone wants a signature by anyone.
		var keys []struct {
			ID          int64  `json:"id"`
			Fingerprint string `json:"fingerprint"`
			Algorithm   string `json:"algorithm"`
		}
		e.must(e.do(admin, http.MethodGet, "projects/signed/signature-keys", nil), http.StatusOK).decodeInto(t, &keys)
		if len(keys) != 1 || keys[0].Algorithm != "ecdsa-p256" || len(keys[0].Fingerprint) != 64 {
			t.Fatalf("keys %+v", keys)
		}
		e.must(e.do(admin, http.MethodDelete, "projects/signed/signature-keys/"+itoa(keys[0].ID), nil), http.StatusOK)
		e.must(e.do(admin, http.MethodPut, "projects/signed/metadatas/enable_content_trust_cosign",
			map[string]string{"enable_content_trust_cosign": "true"}), http.StatusOK)
		apptest.Eventually(t, 15*time.Second, func() bool { return pull("other").status == http.StatusOK })
		e.must(pull("other"), http.StatusOK)
		r = pull("unsigned")
		if r.status != http.StatusForbidden || !strings.Contains(r.msg, "enable_content_trust_cosign") {
			t.Errorf("unsigned pull under enable_content_trust_cosign: %d %q", r.status, r.msg)
		}
		var md map[string]string
		e.must(e.do(admin, http.MethodGet, "projects/signed/metadatas/", nil), http.StatusOK).decodeInto(t, &md)
		if md["enable_content_trust_cosign"] != "true" || md["public"] != "false" {
			t.Errorf("metadata %v", md)
		}
	})
}

// decodeInto decodes the body of r into v.
func (r result) decodeInto(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}
