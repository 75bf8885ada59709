package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testenv"
)

// TestLDAPPrivateProject is the directory user's first day with podman: an
// administrator creates a private project through the REST API, points
// Berth at the LDAP directory (PUT /api/v2.0/configurations) and makes the
// LDAP group cn=developers Developer of the project; alice (in that group)
// logs in with podman and her directory password, pushes, and pulls the
// image back with the same digest. Without credentials the private
// project is refused, while a public project's image pulls anonymously.
//
// It needs BERTH_TEST_LDAP (the slapd of scripts/services/slapd.sh, which
// the registry must reach at that URL) and BERTH_TEST_ADMIN_PASSWORD (the
// registry's BERTH_ADMIN_PASSWORD). Switching auth_mode to ldap_auth
// leaves local accounts, admin included, working for the other tests.
func TestLDAPPrivateProject(t *testing.T) {
	t.Parallel()
	reg, ctx := setup(t)
	ldapURL := testenv.Require(t, "BERTH_TEST_LDAP")
	adminPassword := testenv.Require(t, "BERTH_TEST_ADMIN_PASSWORD")
	podman := lookClient(t, "podman", containersEnv(t)...)
	admin := restCaller{reg: reg, user: "admin", password: adminPassword}

	project := "e2e-ldap-" + randomHex(t, 4)
	admin.call(t, ctx, http.MethodPost, "/projects", map[string]any{"project_name": project,
		"metadata": map[string]string{"public": "false"}}, http.StatusCreated)
	admin.call(t, ctx, http.MethodPut, "/configurations", map[string]any{
		"auth_mode":                "ldap_auth",
		"ldap_url":                 ldapURL,
		"ldap_search_dn":           "cn=berth-search,ou=services,dc=berth,dc=test",
		"ldap_search_password":     "search-secret",
		"ldap_base_dn":             "ou=people,dc=berth,dc=test",
		"ldap_filter":              "(objectClass=inetOrgPerson)",
		"ldap_uid":                 "uid",
		"ldap_scope":               2,
		"ldap_group_base_dn":       "ou=groups,dc=berth,dc=test",
		"ldap_group_search_filter": "(objectClass=groupOfNames)",
		"ldap_group_admin_dn":      "cn=berth-admins,ou=groups,dc=berth,dc=test",
	}, http.StatusOK)
	admin.call(t, ctx, http.MethodPost, "/ldap/ping", nil, http.StatusOK)
	admin.call(t, ctx, http.MethodPost, "/projects/"+project+"/members", map[string]any{"role_id": 2,
		"member_group": map[string]any{"ldap_group_dn": "cn=developers,ou=groups,dc=berth,dc=test"}}, http.StatusCreated)

	// alice pushes with podman, logged in with her directory password.
	src := lowerTempDir(t)
	img := writeLayout(t, src, "v1", map[string][]byte{"hello.txt": []byte("hello from alice\n")})
	out := strings.Fields(podman.run(t, ctx, "pull", "oci:"+src+":v1"))
	if len(out) == 0 {
		t.Fatal("podman pull printed no image id")
	}
	local := "localhost/" + project + "/app:imported"
	podman.run(t, ctx, "tag", out[len(out)-1], local)
	alice := podman
	alice.stdin = "alice-secret"
	alice.run(t, ctx, "login", tlsVerify(""), "-u", "alice", "--password-stdin", reg)
	remote := reg + "/" + project + "/app:v1"
	digestFile := filepath.Join(t.TempDir(), "digest")
	podman.run(t, ctx, "push", tlsVerify(""), "--digestfile", digestFile, local, "docker://"+remote)
	b, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(string(b))
	t.Logf("alice pushed %s (layout manifest %s) as %s", remote, img.Digest, pushed)

	// alice pulls it back.
	podman.run(t, ctx, "rmi", "--all", "--force")
	podman.run(t, ctx, "pull", tlsVerify(""), remote)
	if got := strings.TrimSpace(podman.run(t, ctx, "image", "inspect", "--format", "{{.Digest}}", remote)); got != pushed {
		t.Fatalf("alice pulled %s as %s, pushed %s", remote, got, pushed)
	}

	// Without credentials the private project is refused.
	podman.run(t, ctx, "logout", reg)
	podman.run(t, ctx, "rmi", "--all", "--force")
	if stdout, stderr, err := podman.exec(ctx, "pull", tlsVerify(""), remote); err == nil {
		t.Fatalf("anonymous podman pull of private %s succeeded:\n%s\n%s", remote, stdout, stderr)
	}
	anon := restCaller{reg: reg}
	if status := anon.status(t, ctx, regURL(reg)+"/v2/"+project+"/app/manifests/v1"); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET of a private manifest: %d, want 401", status)
	}

	// A public project's image pulls without credentials.
	pub := repoName(t, "public")
	pubSrc := lowerTempDir(t)
	writeLayout(t, pubSrc, "v1", map[string][]byte{"hello.txt": []byte("hello, anyone\n")})
	out = strings.Fields(podman.run(t, ctx, "pull", "oci:"+pubSrc+":v1"))
	if len(out) == 0 {
		t.Fatal("podman pull printed no image id")
	}
	podman.run(t, ctx, "tag", out[len(out)-1], "localhost/"+pub+":imported")
	adminLogin := podman
	adminLogin.stdin = adminPassword
	adminLogin.run(t, ctx, "login", tlsVerify(""), "-u", "admin", "--password-stdin", reg)
	pubDigestFile := filepath.Join(t.TempDir(), "digest")
	podman.run(t, ctx, "push", tlsVerify(""), "--digestfile", pubDigestFile, "localhost/"+pub+":imported", "docker://"+reg+"/"+pub+":v1")
	b, err = os.ReadFile(pubDigestFile)
	if err != nil {
		t.Fatal(err)
	}
	pubPushed := strings.TrimSpace(string(b))
	podman.run(t, ctx, "logout", reg)
	podman.run(t, ctx, "rmi", "--all", "--force")
	podman.run(t, ctx, "pull", tlsVerify(""), reg+"/"+pub+":v1")
	if got := strings.TrimSpace(podman.run(t, ctx, "image", "inspect", "--format", "{{.Digest}}", reg+"/"+pub+":v1")); got != pubPushed {
		t.Fatalf("anonymous pull of public %s: %s, pushed %s", pub, got, pubPushed)
	}
}

// restCaller calls the registry's REST API, with Basic credentials when
// user is set.
type restCaller struct {
	reg, user, password string
}

// call sends body as JSON to /api/v2.0/path and fails the test unless the
// answer has status want. It returns the answer's body.
func (c restCaller) call(t *testing.T, ctx context.Context, method, path string, body any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(t, body))
	}
	req, err := http.NewRequestWithContext(ctx, method, regURL(c.reg)+"/api/v2.0"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		var eb struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		_ = json.Unmarshal(b, &eb)
		t.Fatalf("%s %s: status %d %+v, want %d", method, path, resp.StatusCode, eb.Errors, want)
	}
	return b
}

// status GETs url with c's credentials and returns the status.
func (c restCaller) status(t *testing.T, ctx context.Context, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", manifestAccept)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
