package app

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/settings"
)

// TestReadOnlyAcrossReplicas: read_only set through one replica makes
// the other refuse, within its settings cache time, every change on /v2/
// (uploads, also one begun before, manifest pushes, deletes; Basic or
// token, logged in or not) and on the REST API with Harbor's 403 DENIED
// answer, while pulls and token requests go on; turning it off works.
func TestReadOnlyAcrossReplicas(t *testing.T) {
	cfg := testConfig(t) // both replicas: one data directory, one SQLite database
	a, b := startReplica(t, cfg), startReplica(t, cfg)
	img := a.pushImage(admin, "library/app", "v1", []byte("layer one"))
	begun := b.must(b.do(admin, "POST", "/v2/library/app/blobs/uploads/", nil), http.StatusAccepted).header.Get("Location")

	a.must(a.api(admin, "PUT", "/configurations", map[string]any{"read_only": true}), http.StatusOK)
	deadline := time.Now().Add(15 * time.Second) // the settings cache lives 5 s
	for {
		r := b.do(admin, "POST", "/v2/library/app/blobs/uploads/", nil)
		if r.status == http.StatusForbidden {
			break
		}
		if r.status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("replica b: upload %d %s %s, want 202 until it sees read_only, then 403", r.status, r.code, r.msg)
		}
		time.Sleep(200 * time.Millisecond)
	}

	token, _, _ := b.token(admin, "repository:library/app:pull,push,delete")
	bearer := cred{token: token}
	blob := []byte("another layer")
	bd := digest.FromBytes(blob)
	for _, tc := range []struct {
		name         string
		c            cred
		method, path string
		body         []byte
		hdr          []string
	}{
		{"upload, Basic", admin, "POST", "/v2/library/app/blobs/uploads/", nil, nil},
		{"upload, token", bearer, "POST", "/v2/library/app/blobs/uploads/", nil, nil},
		{"upload, anonymous", cred{}, "POST", "/v2/library/app/blobs/uploads/", nil, nil},
		{"monolithic upload", admin, "POST", "/v2/library/app/blobs/uploads/?digest=" + bd.String(), blob, nil},
		{"chunk of an upload begun before", admin, "PATCH", begun, blob, []string{"Content-Type", "application/octet-stream"}},
		{"upload cancel", admin, "DELETE", begun, nil, nil},
		{"manifest push", bearer, "PUT", "/v2/library/app/manifests/v2", img.manifest, []string{"Content-Type", ociManifest}},
		{"manifest delete", admin, "DELETE", "/v2/library/app/manifests/" + img.digest.String(), nil, nil},
		{"blob delete", admin, "DELETE", "/v2/library/app/blobs/" + img.layer.String(), nil, nil},
		{"REST create project", admin, "POST", "/api/v2.0/projects", []byte(`{"project_name":"new"}`), []string{"Content-Type", "application/json"}},
		{"REST delete repository", admin, "DELETE", "/api/v2.0/projects/library/repositories/app", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(tc.c, tc.method, tc.path, tc.body, tc.hdr...)
			if r.status != http.StatusForbidden || r.code != "DENIED" || r.msg != settings.ReadOnlyMessage {
				t.Errorf("%s %s: %d %s %q, want 403 DENIED %q", tc.method, tc.path, r.status, r.code, r.msg, settings.ReadOnlyMessage)
			}
		})
	}

	// Pulls go on, with Basic, tokens or anonymously (library is public).
	b.must(b.do(admin, "GET", "/v2/library/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	b.must(b.do(bearer, "GET", "/v2/library/app/blobs/"+img.layer.String(), nil), http.StatusOK)
	b.must(b.do(cred{}, "GET", "/v2/library/app/manifests/"+img.digest.String(), nil, "Accept", ociManifest), http.StatusOK)
	b.must(b.do(admin, "GET", "/v2/library/app/tags/list", nil), http.StatusOK)
	var info struct {
		ReadOnly bool `json:"read_only"`
	}
	if err := json.Unmarshal(b.must(b.api(admin, "GET", "/systeminfo", nil), http.StatusOK).body, &info); err != nil || !info.ReadOnly {
		t.Errorf("systeminfo read_only = %v (%v), want true", info.ReadOnly, err)
	}

	// Turned off through replica b, b takes pushes again at once.
	b.must(b.api(admin, "PUT", "/configurations", map[string]any{"read_only": false}), http.StatusOK)
	b.pushBlob(admin, "library/app", blob)
	b.must(b.do(admin, "GET", "/v2/library/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
}

// TestTokenExpirationSetting: auth.token_expiration seeds the
// token_expiration setting (minutes) at the first start, and a change
// through PUT /configurations sets the lifetime of the next tokens.
func TestTokenExpirationSetting(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"BERTH_TOKEN_EXPIRATION": "10m"})
	lifetime := func() (expiresIn int, claimed int64) {
		t.Helper()
		r := e.do(admin, "GET", "/service/token?service=berth&scope=repository:library/app:pull", nil)
		var body struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
		}
		if err := json.Unmarshal(e.must(r, http.StatusOK).body, &body); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(body.Token, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			IssuedAt  int64 `json:"iat"`
			ExpiresAt int64 `json:"exp"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		return body.ExpiresIn, claims.ExpiresAt - claims.IssuedAt
	}
	var conf map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(e.must(e.api(admin, "GET", "/configurations", nil), http.StatusOK).body, &conf); err != nil {
		t.Fatal(err)
	}
	if v := conf["token_expiration"].Value; v != float64(10) {
		t.Errorf("token_expiration seeded as %v, want 10 (minutes, from BERTH_TOKEN_EXPIRATION=10m)", v)
	}
	if in, claimed := lifetime(); in != 600 || claimed != 600 {
		t.Errorf("token lifetime: expires_in %d, exp-iat %d, want 600", in, claimed)
	}
	e.must(e.api(admin, "PUT", "/configurations", map[string]any{"token_expiration": 42}), http.StatusOK)
	if in, claimed := lifetime(); in != 42*60 || claimed != 42*60 {
		t.Errorf("token lifetime after PUT token_expiration 42: expires_in %d, exp-iat %d, want 2520", in, claimed)
	}
}

// TestTokenExpirationSeedRoundsUp: a file value that is not whole minutes
// seeds the next whole minute.
func TestTokenExpirationSeedRoundsUp(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.TokenExpiration = 90 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startReplica(t, cfg)
	var conf map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(e.must(e.api(admin, "GET", "/configurations", nil), http.StatusOK).body, &conf); err != nil {
		t.Fatal(err)
	}
	if v := conf["token_expiration"].Value; v != float64(2) {
		t.Errorf("token_expiration seeded from 90s as %v, want 2", v)
	}
}
