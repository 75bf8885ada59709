package tokenauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/oci"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   []string
		want []Scope
		ok   bool
	}{
		{[]string{"repository:library/app:pull,push"}, []Scope{{"repository", "library/app", []string{"pull", "push"}}}, true},
		{[]string{"repository:a:pull", "repository:b:push,pull,push"}, []Scope{{"repository", "a", []string{"pull"}}, {"repository", "b", []string{"push", "pull"}}}, true},
		{[]string{"repository:a:pull registry:catalog:*"}, []Scope{{"repository", "a", []string{"pull"}}, {"registry", "catalog", []string{"*"}}}, true},
		{[]string{"repository(plugin):a/b:pull"}, []Scope{{"repository", "a/b", []string{"pull"}}}, true},
		{[]string{"repository:a:"}, []Scope{{"repository", "a", nil}}, true},
		{nil, nil, true},
		{[]string{"repository"}, nil, false},
		{[]string{"repository:pull"}, nil, false},
		{[]string{":a:pull"}, nil, false},
		{[]string{"repository:Bad/Name:pull"}, nil, false},
		{[]string{"repository:a/../b:pull"}, nil, false},
		{[]string{"repository:" + strings.Repeat("a", 256) + ":pull"}, nil, false},
		{[]string{"repository:a:" + strings.Repeat("pull,", 200)}, nil, false},
		{[]string{"registry:catalog:*"}, []Scope{{"registry", "catalog", []string{"*"}}}, true},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseScopes(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseScopes(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

// TestScopeBounds: a token request names at most MaxScopes scopes (in any
// mix of values), each repository name valid as /v2/ validates it.
func TestScopeBounds(t *testing.T) {
	scopes := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "repository:lib/app" + strconv.Itoa(i) + ":pull"
		}
		return out
	}
	got, err := ParseScopes(scopes(MaxScopes))
	if err != nil || len(got) != MaxScopes {
		t.Fatalf("ParseScopes(%d scopes) = %d scopes, %v", MaxScopes, len(got), err)
	}
	if _, err := ParseScopes(scopes(MaxScopes + 1)); !errors.Is(err, ErrTooManyScopes) {
		t.Errorf("ParseScopes(%d scopes) err = %v, want ErrTooManyScopes", MaxScopes+1, err)
	}
	if _, err := ParseScopes([]string{strings.Join(scopes(MaxScopes+1), " ")}); !errors.Is(err, ErrTooManyScopes) {
		t.Errorf("ParseScopes(%d scopes in one value) err = %v, want ErrTooManyScopes", MaxScopes+1, err)
	}
	if _, err := ParseScopes([]string{strings.Repeat(" ", 1<<20) + "repository:a:pull"}); err == nil {
		t.Errorf("ParseScopes(1 MiB value) accepted")
	}
	if _, err := ParseScopes([]string{"repository:Upper/case:pull"}); !errors.Is(err, oci.ErrNameInvalid) {
		t.Errorf("ParseScopes(bad name) err = %v, want oci.ErrNameInvalid", err)
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIssueVerify(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key := newKey(t)
	iss, err := NewIssuer(key, Options{TTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	access := []ResourceActions{{Type: "repository", Name: "a/b", Actions: []string{"pull"}}}
	tok, err := iss.Issue("alice", access)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != time.Minute || !tok.IssuedAt.Equal(now) {
		t.Errorf("token lifetime = %v from %v", tok.ExpiresIn, tok.IssuedAt)
	}
	c, err := iss.Verify(tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Issuer != "berth-token-service" || c.Audience[0] != "berth" {
		t.Errorf("claims = %+v", c.RegisteredClaims)
	}
	if d := cmp.Diff(access, c.Access); d != "" {
		t.Errorf("access (-want +got):\n%s", d)
	}
	// The header names the key the way Docker's tooling does.
	hdr, _, _ := strings.Cut(tok.Raw, ".")
	var h map[string]any
	b, _ := jwt.NewParser().DecodeSegment(hdr)
	_ = json.Unmarshal(b, &h)
	if h["alg"] != "ES256" || !regexp.MustCompile(`^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$`).MatchString(h["kid"].(string)) {
		t.Errorf("header = %v", h)
	}

	other, _ := NewIssuer(newKey(t), Options{Now: clock})
	otherService, _ := NewIssuer(key, Options{Service: "elsewhere", Now: clock})
	later, _ := NewIssuer(key, Options{Now: func() time.Time { return now.Add(time.Minute + 10*time.Second) }})
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "berth-token-service", Audience: jwt.ClaimStrings{"berth"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	bad := []struct {
		name string
		iss  *Issuer
		raw  string
	}{
		{"other key", other, tok.Raw},
		{"other service", otherService, tok.Raw},
		{"expired", later, tok.Raw},
		{"alg none", iss, noneTok},
		{"garbage", iss, "abc.def.ghi"},
		{"tampered", iss, tok.Raw[:len(tok.Raw)-4] + "AAAA"},
	}
	for _, tt := range bad {
		if _, err := tt.iss.Verify(tt.raw); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify err = %v, want ErrInvalidToken", tt.name, err)
		}
	}
}

func TestClaimsAllows(t *testing.T) {
	c := Claims{Access: []ResourceActions{
		{Type: "repository", Name: "a", Actions: []string{"pull", "push"}},
		{Type: "repository", Name: "b", Actions: []string{"*"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}}
	tests := []struct {
		repo    string
		actions []string
		want    bool
	}{
		{"a", []string{"pull"}, true},
		{"a", []string{"pull", "push"}, true},
		{"a", []string{"delete"}, false},
		{"b", []string{"delete", "push"}, true},
		{"c", []string{"pull"}, false},
		{"catalog", []string{"pull"}, false},
	}
	for _, tt := range tests {
		if got := c.Allows(tt.repo, tt.actions); got != tt.want {
			t.Errorf("Allows(%s, %v) = %v, want %v", tt.repo, tt.actions, got, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, block *pem.Block) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ec := newKey(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384der, _ := x509.MarshalPKCS8PrivateKey(p384)
	tests := []struct {
		name string
		path string
		alg  string
	}{
		{"pkcs8 ec", write("a.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), "ES256"},
		{"sec1 ec", write("b.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "ES256"},
		{"pkcs1 rsa", write("c.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), "RS256"},
		{"short rsa", write("d.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa1024)}), ""},
		{"p384", write("e.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: p384der}), ""},
		{"public key", write("f.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")}), ""},
		{"missing", filepath.Join(dir, "nope.pem"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKey(tt.path)
			if tt.alg == "" {
				if err == nil {
					t.Fatal("LoadKey succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			iss, err := NewIssuer(k, Options{})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := iss.Issue("x", nil)
			if _, err := iss.Verify(tok.Raw); err != nil || iss.method.Alg() != tt.alg {
				t.Errorf("alg %s, verify %v; want %s", iss.method.Alg(), err, tt.alg)
			}
		})
	}
}

// TestKeyPersistence: the generated key is written once (0600) and found
// again, so tokens outlive a restart; processes racing to create it agree.
func TestKeyPersistence(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateKey(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKey: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	iss1, _ := NewIssuer(k1, Options{})
	tok, _ := iss1.Issue("alice", nil)

	k2, created, err := LoadOrCreateKey(dir) // a restart
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKey: created=%v err=%v", created, err)
	}
	iss2, _ := NewIssuer(k2, Options{})
	if _, err := iss2.Verify(tok.Raw); err != nil {
		t.Errorf("token from before the restart: %v", err)
	}

	race := t.TempDir()
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateKey(race)
			if err != nil {
				t.Error(err)
				return
			}
			der, _ := x509.MarshalPKIXPublicKey(k.Public())
			keys[i] = string(der)
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatal("processes creating the key at once got different keys")
		}
	}
	if ents, _ := os.ReadDir(race); len(ents) != 1 {
		t.Errorf("racing creators left %d files, want 1", len(ents))
	}
}

// TestTokenEndpoint exercises /service/token over a real store.
func TestTokenEndpoint(t *testing.T) {
	store := metatest.OpenSQLite(t)
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log, identity.Options{
		Hash:     &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		Throttle: identity.Throttle{PerUser: 2, PerIP: 100, Window: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	team, _ := store.Projects.CreateProject(ctx, meta.Project{Name: "team"})
	dev, _ := ids.CreateUser(ctx, identity.NewUser{Username: "dev", Password: "Dev123456"})
	if _, err := store.Projects.AddMember(ctx, meta.Member{ProjectID: team.ID, Kind: meta.MemberUser, UserID: dev.ID, Role: int(access.RoleDeveloper)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, identity.NewUser{Username: "victim", Password: "Victim123"}); err != nil {
		t.Fatal(err)
	}
	iss, _ := NewIssuer(newKey(t), Options{})
	srv := httptest.NewServer(NewHandler(Config{Issuer: iss, Identity: ids, Access: access.NewChecker(store.Projects), Audit: store.Audit, Log: log}))
	t.Cleanup(srv.Close)

	type result struct {
		status int
		access []ResourceActions
		code   string
		hdr    http.Header
	}
	get := func(method, user, pass string, form url.Values, scopes ...string) result {
		t.Helper()
		q := url.Values{"service": {"berth"}, "scope": scopes}
		var req *http.Request
		if method == http.MethodPost {
			req, _ = http.NewRequest(method, srv.URL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, srv.URL+"?"+q.Encode(), nil)
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		out := result{status: res.StatusCode, hdr: res.Header}
		var body struct {
			Token     string `json:"token"`
			Access    string `json:"access_token"`
			ExpiresIn int    `json:"expires_in"`
			IssuedAt  string `json:"issued_at"`
			Errors    []struct{ Code string }
		}
		_ = json.Unmarshal(b, &body)
		if len(body.Errors) > 0 {
			out.code = body.Errors[0].Code
		}
		if res.StatusCode == http.StatusOK {
			if body.Access == "" || body.ExpiresIn != 300 || body.IssuedAt == "" || (method == http.MethodGet && body.Token != body.Access) {
				t.Fatalf("token response %s", b)
			}
			c, err := iss.Verify(body.Access)
			if err != nil {
				t.Fatal(err)
			}
			out.access = c.Access
		}
		return out
	}

	tests := []struct {
		name       string
		method     string
		user, pass string
		form       url.Values
		scopes     []string
		want       result
	}{
		{"developer asks for more than it holds", "GET", "dev", "Dev123456", nil,
			[]string{"repository:team/app:pull,push,delete", "repository:library/x:push,pull"},
			result{status: 200, access: []ResourceActions{
				{"repository", "team/app", []string{"pull", "push"}}, {"repository", "library/x", []string{"pull"}}}}},
		{"anonymous on a private project gets an empty token", "GET", "", "", nil,
			[]string{"repository:team/app:pull"}, result{status: 200, access: []ResourceActions{}}},
		{"missing project grants nothing", "GET", "dev", "Dev123456", nil,
			[]string{"repository:ghost/app:pull,push"}, result{status: 200, access: []ResourceActions{}}},
		{"catalog", "GET", "dev", "Dev123456", nil, []string{"registry:catalog:*"},
			result{status: 200, access: []ResourceActions{{"registry", "catalog", []string{"*"}}}}},
		{"oauth2 password grant", "POST", "", "", url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {"Dev123456"},
			"service": {"berth"}, "scope": {"repository:team/app:pull"}}, nil,
			result{status: 200, access: []ResourceActions{{"repository", "team/app", []string{"pull"}}}}},
		{"refresh grant unsupported", "POST", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, nil,
			result{status: 400, code: "UNSUPPORTED"}},
		{"bad scope", "GET", "dev", "Dev123456", nil, []string{"nonsense"}, result{status: 400, code: "UNSUPPORTED"}},
		{"bad repository name", "GET", "dev", "Dev123456", nil, []string{"repository:team/App:pull"}, result{status: 400, code: "NAME_INVALID"}},
		{"anonymous 33 scopes", "GET", "", "", nil, manyScopes(MaxScopes + 1), result{status: 400, code: "UNSUPPORTED"}},
		{"anonymous 32 scopes", "GET", "", "", nil, manyScopes(MaxScopes), result{status: 200, access: []ResourceActions{}}},
		{"33 scopes by POST", "POST", "", "", url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {"Dev123456"},
			"service": {"berth"}, "scope": manyScopes(MaxScopes + 1)}, nil, result{status: 400, code: "UNSUPPORTED"}},
		{"wrong password", "GET", "dev", "nope", nil, nil, result{status: 401, code: "UNAUTHORIZED"}},
		{"victim 1", "GET", "victim", "guess1", nil, nil, result{status: 401, code: "UNAUTHORIZED"}},
		{"victim 2", "GET", "victim", "guess2", nil, nil, result{status: 401, code: "UNAUTHORIZED"}},
		{"victim throttled", "GET", "victim", "Victim123", nil, nil, result{status: 429, code: "TOOMANYREQUESTS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(tt.method, tt.user, tt.pass, tt.form, tt.scopes...)
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(result{}), cmpopts.IgnoreFields(result{}, "hdr"), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if got.status == 429 {
				if ra := got.hdr.Get("Retry-After"); ra == "" || ra == "0" {
					t.Errorf("429 without Retry-After")
				}
			}
		})
	}
	logs, _, err := store.Audit.ListAuditLogs(ctx, meta.AuditFilter{Operation: "login"}, meta.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, l := range logs {
		counts[l.Username+"/"+l.Result]++
	}
	if d := cmp.Diff(map[string]int{"dev/success": 4, "dev/failure": 1, "victim/failure": 3}, counts); d != "" {
		t.Errorf("login audit (-want +got):\n%s", d)
	}
}

func manyScopes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "repository:team/app" + strconv.Itoa(i) + ":pull"
	}
	return out
}
