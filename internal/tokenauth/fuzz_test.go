package tokenauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
)

// maxErrLen bounds the message of every error a parser returns.
const maxErrLen = 512

// FuzzParseScopes: every accepted scope has a type and a name without
// white space, a type without ':', distinct non-empty actions without ','
// or white space; formatting a scope and parsing it again gives it back;
// the output holds no more scopes and no more bytes than the input; a
// rejection has a short message. A token for the parsed scopes carries
// only what was asked for.
func FuzzParseScopes(f *testing.F) {
	for _, s := range [][2]string{
		{"repository:library/app:pull,push", ""},
		{"repository:a:pull registry:catalog:*", "repository:b:push,pull,push"},
		{"repository(plugin):a/b:pull", "repository:host:5000/x:pull"},
		{"repository:a:", ":a:pull"},
		{"repository", "repository:pull"},
		{"repository:a:pull,,push,", "\trepository:a\u00a0b:pull"},
	} {
		f.Add(s[0], s[1])
	}
	h, _ := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, a, b string) {
		in := []string{a, b}
		scopes, err := ParseScopes(in)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if len(scopes) > len(strings.Fields(a))+len(strings.Fields(b)) {
			t.Fatalf("%d scopes from %q", len(scopes), in)
		}
		size := 0
		for _, s := range scopes {
			size += len(s.Type) + len(s.Name)
			if s.Type == "" || s.Name == "" || strings.ContainsRune(s.Type, ':') || hasSpace(s.Type) || hasSpace(s.Name) {
				t.Fatalf("ParseScopes(%q) gave %+v", in, s)
			}
			for i, act := range s.Actions {
				size += len(act)
				if act == "" || strings.ContainsRune(act, ',') || hasSpace(act) || slices.Contains(s.Actions[:i], act) {
					t.Fatalf("ParseScopes(%q) gave actions %q", in, s.Actions)
				}
			}
			formatted := s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
			again, err := ParseScopes([]string{formatted})
			if err != nil || len(again) != 1 || again[0].Type != s.Type || again[0].Name != s.Name || !slices.Equal(again[0].Actions, s.Actions) {
				t.Fatalf("%q parses to %+v, %v; want %+v", formatted, again, err, s)
			}
		}
		if size > len(a)+len(b) {
			t.Fatalf("%d bytes of scopes from %d bytes", size, len(a)+len(b))
		}

		// The token endpoint grants (the stub grants everything asked)
		// only scopes that were asked for, with actions that were asked.
		q := url.Values{"service": {"berth"}, "scope": in}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/service/token?"+q.Encode(), nil))
		if w.Code != http.StatusOK {
			if w.Code != http.StatusBadRequest || w.Body.Len() > 2*maxErrLen {
				t.Fatalf("token request for %q: %d %.200s", in, w.Code, w.Body)
			}
			return
		}
		var res tokenResponse
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		c, err := h.c.Issuer.Verify(res.Token)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		for _, ra := range c.Access {
			if !slices.ContainsFunc(scopes, func(s Scope) bool {
				return s.Type == ra.Type && s.Name == ra.Name && len(ra.Actions) > 0 && !slices.ContainsFunc(ra.Actions, func(a string) bool { return !slices.Contains(s.Actions, a) })
			}) {
				t.Fatalf("token for %q grants %+v, which was not asked for", in, ra)
			}
		}
	})
}

func hasSpace(s string) bool { return strings.IndexFunc(s, unicode.IsSpace) >= 0 }

// stubIdentity accepts the password "right" for any name and remembers
// what it was asked.
type stubIdentity struct {
	called     bool
	user, pass string
}

func (s *stubIdentity) Authenticate(_ context.Context, user, pass, _ string) (access.Principal, error) {
	s.called, s.user, s.pass = true, user, pass
	if pass != "right" {
		return access.Principal{}, identity.ErrInvalidCredentials
	}
	return access.Principal{Kind: access.KindUser, Name: user}, nil
}

func (s *stubIdentity) Principal(_ context.Context, name string) (access.Principal, error) {
	return access.Principal{Kind: access.KindUser, Name: name}, nil
}

// grantAll grants every action asked for.
type grantAll struct{}

func (grantAll) Grant(_ context.Context, _ access.Principal, _ string, actions []string) ([]string, error) {
	return actions, nil
}

func (grantAll) Project(_ context.Context, repo string) (access.Project, error) {
	name, _, _ := strings.Cut(repo, "/")
	return access.Project{ID: 1, Name: name}, nil
}

// newFuzzHandler returns a token handler over the stubs, with a clock
// that stands still so that seeded tokens stay valid.
func newFuzzHandler(f *testing.F) (*Handler, *stubIdentity) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	iss, err := NewIssuer(key, Options{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	ids := &stubIdentity{}
	return NewHandler(Config{Issuer: iss, Identity: ids, Access: grantAll{}, Log: slog.New(slog.DiscardHandler)}), ids
}

// decodeBasic reads an Authorization header as RFC 7617 defines Basic
// credentials: "Basic" (any case), one space, base64 of user ":" password.
func decodeBasic(h string) (user, pass string, ok bool) {
	if len(h) < 6 || !strings.EqualFold(h[:6], "Basic ") {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(h[6:])
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(b), ":")
	if !ok {
		return "", "", false
	}
	return user, pass, true
}

// FuzzBasicAuth: for any Authorization header, the /v2/ gate and the token
// endpoint pass on exactly the user and password a Basic header encodes,
// and nothing when it is not one; what they answer follows: the stub's
// verdict for Basic credentials, 401 (access.ErrUnauthorized) for anything
// malformed, another scheme or a bad token. Credentials set with
// SetBasicAuth arrive intact (split at the first ':').
func FuzzBasicAuth(f *testing.F) {
	h, ids := newFuzzHandler(f)
	g, err := NewGate(h.c)
	if err != nil {
		f.Fatal(err)
	}
	tok, err := h.c.Issuer.Issue("alice", []ResourceActions{{Type: "repository", Name: "a/b", Actions: []string{"pull"}}})
	if err != nil {
		f.Fatal(err)
	}
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{"", basic("alice:right"), basic("alice:wrong"), basic("alice"), basic("a:b:c"), "basic " + base64.StdEncoding.EncodeToString([]byte("x:right")),
		"Basic", "Basic ", "Basic  YTpi", "Basic YTpi\n", "Bearer " + tok.Raw, "bearer  " + tok.Raw + " ", "Bearer x.y.z", "Digest a=b", " Basic YTpi", "Basic YTpi=="} {
		f.Add(s, "bob", "right")
	}
	f.Add("", "b:o:b", "p:w")
	f.Fuzz(func(t *testing.T, header, user, pass string) {
		wantUser, wantPass, isBasic := decodeBasic(header)
		scheme, cred, _ := strings.Cut(header, " ")
		_, tokErr := h.c.Issuer.Verify(strings.TrimSpace(cred))
		validToken := strings.EqualFold(scheme, "Bearer") && tokErr == nil

		// The gate, on the base endpoint.
		*ids = stubIdentity{}
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		_, err := g.Authorize(r, "", nil)
		switch {
		case isBasic:
			if !ids.called || ids.user != wantUser || ids.pass != wantPass {
				t.Fatalf("gate, %q: identity asked %+v, want %q/%q", header, *ids, wantUser, wantPass)
			}
			if (err == nil) != (wantPass == "right") || (err != nil && !errors.Is(err, identity.ErrInvalidCredentials)) {
				t.Fatalf("gate, %q: %v", header, err)
			}
		case ids.called:
			t.Fatalf("gate, %q: identity asked %+v for a header that is not Basic", header, *ids)
		case validToken:
			if err != nil {
				t.Fatalf("gate, %q: valid token refused: %v", header, err)
			}
		case !errors.Is(err, access.ErrUnauthorized):
			t.Fatalf("gate, %q: %v, want ErrUnauthorized", header, err)
		}
		if err != nil && len(err.Error()) > maxErrLen {
			t.Fatalf("gate, %q: error message of %d bytes", header, len(err.Error()))
		}

		// The token endpoint takes only Basic credentials, or none.
		*ids = stubIdentity{}
		r = httptest.NewRequest(http.MethodGet, "/service/token?service=berth", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if ids.called != isBasic || (isBasic && (ids.user != wantUser || ids.pass != wantPass)) {
			t.Fatalf("token, %q: identity asked %+v, want %q/%q (Basic %v)", header, *ids, wantUser, wantPass, isBasic)
		}
		want := http.StatusUnauthorized
		if header == "" || (isBasic && wantPass == "right") {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Fatalf("token, %q: %d, want %d", header, w.Code, want)
		}

		// Credentials set by a client arrive intact.
		*ids = stubIdentity{}
		r = httptest.NewRequest(http.MethodGet, "/v2/", nil)
		r.SetBasicAuth(user, pass)
		_, _ = g.Authorize(r, "", nil)
		if !ids.called || ids.user+":"+ids.pass != user+":"+pass || (!strings.Contains(user, ":") && (ids.user != user || ids.pass != pass)) {
			t.Fatalf("SetBasicAuth(%q, %q): identity asked %+v", user, pass, *ids)
		}
	})
}

// TestParseScopesInvalidUTF8: a token's claims are JSON, which turns bytes
// that are not UTF-8 into U+FFFD, so a scope naming "lib/\x9e" would be
// checked for one repository and signed for another. Such scopes are
// refused. Found by FuzzParseScopes.
func TestParseScopesInvalidUTF8(t *testing.T) {
	for _, s := range []string{"repository:lib/\x9e:pull", "repository\xff:a:pull", "repository:a:pu\xc3ll"} {
		if got, err := ParseScopes([]string{s}); err == nil {
			t.Errorf("ParseScopes(%q) = %+v", s, got)
		}
	}
}
