package restapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// maxErrLen bounds the message of every error a parser returns.
const maxErrLen = 512

// wantBadRequest checks that err is a 400 BAD_REQUEST with a short message.
func wantBadRequest(t *testing.T, err error) {
	t.Helper()
	code, status, msg := classify(err)
	if code != codeBadRequest || status != http.StatusBadRequest || len(msg) > maxErrLen {
		t.Fatalf("error %.200s maps to %s %d (%d bytes), want a short %s", err, code, status, len(msg), codeBadRequest)
	}
}

// FuzzPaging: page and page_size are accepted only as a page from 1 and a
// size from 1 to 100 whose offset fits an int32, else 400 BAD_REQUEST;
// X-Total-Count is the total; every Link leads to an acceptable page
// (prev: the page before, or the last one; next: the page after, only when
// there is one) and keeps the request's other parameters.
func FuzzPaging(f *testing.F) {
	for _, q := range []string{"", "page=2&page_size=10", "page=0", "page=-1", "page_size=101", "page_size=0", "page=21474837&page_size=100", "page=99999999999999999999",
		"page=+3", "page=3&q=name%3D~a%2Cb&page_size=7", "page=1&page=2", "page_size=%zz"} {
		f.Add(q, 25)
	}
	f.Add("page=9&page_size=10", 25)
	f.Fuzz(func(t *testing.T, rawQuery string, total int) {
		r := httptest.NewRequest(http.MethodGet, "/api/v2.0/projects", nil)
		r.URL.RawQuery = rawQuery
		p, err := parsePaging(r)
		if err != nil {
			wantBadRequest(t, err)
			return
		}
		m := p.meta()
		if p.page < 1 || p.size < 1 || p.size > maxPageSize || m.Offset < 0 || m.Offset > 1<<31 || m.Limit != p.size {
			t.Fatalf("parsePaging(%q) = %+v (%+v)", rawQuery, p, m)
		}

		total = min(max(total, 0), 1<<30) // a count of rows
		w := httptest.NewRecorder()
		setPagingHeaders(w, r, p, total)
		if got := w.Header().Get("X-Total-Count"); got != strconv.Itoa(total) {
			t.Fatalf("X-Total-Count %q, want %d", got, total)
		}
		links := map[string]int{}
		if l := w.Header().Get("Link"); l != "" {
			for _, part := range strings.Split(l, " , ") {
				m := linkRE.FindStringSubmatch(part)
				if m == nil {
					t.Fatalf("Link part %q", part)
				}
				u, err := url.Parse(m[1])
				if err != nil || u.Path != r.URL.Path {
					t.Fatalf("Link %q: %v", m[1], err)
				}
				r2 := httptest.NewRequest(http.MethodGet, u.String(), nil)
				p2, err := parsePaging(r2)
				if err != nil || p2.size != p.size {
					t.Fatalf("Link %q leads to %+v, %v", m[1], p2, err)
				}
				for k, v := range r.URL.Query() {
					if k != "page" && k != "page_size" && !slices.Equal(r2.URL.Query()[k], v) {
						t.Fatalf("Link %q lost %s=%q", m[1], k, v)
					}
				}
				links[m[2]] = p2.page
			}
		}
		lastPage := (total + p.size - 1) / p.size
		if prev, ok := links["prev"]; ok != (p.page > 1 && total > 0) || (ok && prev != min(p.page-1, lastPage)) {
			t.Fatalf("page %d of %d: prev link %v %d", p.page, lastPage, ok, prev)
		}
		if next, ok := links["next"]; ok != (p.page < lastPage) || (ok && next != p.page+1) {
			t.Fatalf("page %d of %d: next link %v %d", p.page, lastPage, ok, next)
		}
	})
}

var linkRE = regexp.MustCompile(`^<([^>]*)>; rel="(prev|next)"$`)

// FuzzQuery: Harbor's q parameter. splitQuery loses nothing; an accepted
// audit filter has a time range in order and takes its values from q
// (nothing grows); the repository name filter is exactly what follows
// name= or name=~; everything else is 400 BAD_REQUEST with a short message.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"", "username=admin,operation=create", "resource=~lib/", "op_time=[2026-01-01 00:00:00~2026-02-01T00:00:00Z]", "op_time=[~]", "op_time=[2026-02-01~2026-01-01]",
		"op_time=2026", "x=1", "username", "name=~a,b", "name=abc", "resource={a,b},username=(x,y)", "]]],[[[", "resource_type=user,resource_type=project"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		parts := splitQuery(q)
		if strings.Join(parts, ",") != q || len(parts) > strings.Count(q, ",")+1 {
			t.Fatalf("splitQuery(%q) = %q", q, parts)
		}

		af, err := parseAuditQuery(q)
		if err != nil {
			wantBadRequest(t, err)
		} else {
			if !af.From.IsZero() && !af.To.IsZero() && af.To.Before(af.From) {
				t.Fatalf("parseAuditQuery(%q): %v before %v", q, af.To, af.From)
			}
			for _, v := range []string{af.Username, af.Operation, af.ResourceType, af.Resource} {
				if !strings.Contains(q, v) {
					t.Fatalf("parseAuditQuery(%q) invented %q", q, v)
				}
			}
		}

		name, err := nameQuery(q)
		switch {
		case err != nil:
			wantBadRequest(t, err)
		case q == "":
			if name != "" {
				t.Fatalf("nameQuery(\"\") = %q", name)
			}
		case strings.Contains(name, ",") || (q != "name=~"+name && q != "name="+name):
			t.Fatalf("nameQuery(%q) = %q", q, name)
		}
	})
}

// fuzzIdentity accepts the password "right" for any name and remembers
// what it was asked; the rest of Identity is not used by GET /ping.
type fuzzIdentity struct {
	Identity
	called     bool
	user, pass string
}

func (s *fuzzIdentity) Authenticate(_ context.Context, user, pass, _ string) (access.Principal, error) {
	s.called, s.user, s.pass = true, user, pass
	if pass != "right" {
		return access.Principal{}, identity.ErrInvalidCredentials
	}
	return access.Principal{Kind: access.KindUser, Name: user, ID: 1}, nil
}

// fuzzAudit drops audit records.
type fuzzAudit struct{}

func (fuzzAudit) Record(meta.AuditLog)                  {}
func (fuzzAudit) RecordInProject(meta.AuditLog, string) {}

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

// FuzzBasicAuth: for any Authorization header the REST API passes on
// exactly the user and password a Basic header encodes, and nothing
// otherwise; it answers 200 for good credentials or no header, and a
// short 401 for bad credentials, malformed Basic and every other scheme.
func FuzzBasicAuth(f *testing.F) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{"", basic("alice:right"), basic("alice:wrong"), basic("alice"), basic("a:b:right"), "BASIC " + base64.StdEncoding.EncodeToString([]byte("x:right")),
		"Basic", "Basic ", "Basic  YTpi", "Basic YTpi\n", "Bearer x.y.z", "Digest a=b", " Basic YTpi", "Basic YTpi==", basic(":right"), basic(strings.Repeat("u", 300) + ":right")} {
		f.Add(s)
	}
	ids := &fuzzIdentity{}
	a := New(Deps{Audit: fuzzAudit{}, Identity: ids, SessionKey: []byte(strings.Repeat("k", 32))}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, header string) {
		wantUser, wantPass, isBasic := decodeBasic(header)
		ids.called, ids.user, ids.pass = false, "", ""
		r := httptest.NewRequest(http.MethodGet, Prefix+"/ping", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if ids.called != isBasic || ids.user != wantUser || ids.pass != wantPass {
			t.Fatalf("%q: identity asked %q/%q (%v), want %q/%q (%v)", header, ids.user, ids.pass, ids.called, wantUser, wantPass, isBasic)
		}
		want := http.StatusUnauthorized
		if header == "" || (isBasic && wantPass == "right") {
			want = http.StatusOK
		}
		if w.Code != want || (want != http.StatusOK && w.Body.Len() > 2*maxErrLen) {
			t.Fatalf("%q: %d %.300s, want %d", header, w.Code, w.Body, want)
		}
	})
}
