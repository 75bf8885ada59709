package apptest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// RESTPrefix is where the Harbor-shaped REST API lives.
const RESTPrefix = "/api/v2.0/"

// Cred is how a request authenticates: Basic, a portal session (cookies
// and its CSRF token), or nothing (the zero Cred, anonymous).
type Cred struct {
	User, Password string
	Cookies        []*http.Cookie
	CSRF           string
}

// Basic is user:password as a Basic Authorization header.
func Basic(user, password string) Cred { return Cred{User: user, Password: password} }

// Admin is the administrator's Basic credentials.
func Admin() Cred { return Basic("admin", AdminPassword) }

func (c Cred) apply(req *http.Request) {
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	for _, ck := range c.Cookies {
		req.AddCookie(ck)
	}
	if c.CSRF != "" {
		req.Header.Set("X-Harbor-CSRF-Token", c.CSRF)
	}
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is the first entry of an error body ({"errors":[{code,message}]},
// as both /v2/ and the REST API write it); zero when there is none.
func (r Response) Error() (code, message string) {
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(r.Body, &eb) == nil && len(eb.Errors) > 0 {
		return eb.Errors[0].Code, eb.Errors[0].Message
	}
	return "", ""
}

// Want fails the test unless r has status.
func (r Response) Want(t testing.TB, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %.500s", r.Status, status, r.Body)
	}
	return r
}

// Decode unmarshals r's JSON body into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %.300s: %v", r.Body, err)
	}
}

// Do sends method path with body as c and reads the answer. path is
// absolute ("/v2/...") or relative to RESTPrefix ("projects"), or a full
// URL. body is nil, a string, []byte, an io.Reader, url.Values (sent as a
// form) or anything else (sent as JSON). hdr is header name, value pairs.
func (s *Server) Do(t testing.TB, c Cred, method, path string, body any, hdr ...string) Response {
	t.Helper()
	var (
		rd    io.Reader
		ctype string
	)
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	switch {
	case strings.HasPrefix(path, "http://"), strings.HasPrefix(path, "https://"):
	case strings.HasPrefix(path, "/"):
		path = s.URL + path
	default:
		path = s.URL + RESTPrefix + path
	}
	req, err := http.NewRequestWithContext(t.Context(), method, path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	c.apply(req)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// REST calls the REST API as the administrator (Basic); path is relative
// to RESTPrefix.
func (s *Server) REST(t testing.TB, method, path string, body any) Response {
	t.Helper()
	return s.Do(t, Admin(), method, strings.TrimPrefix(path, "/"), body)
}

// Login opens a portal session (POST /c/login) and returns its cookies
// and CSRF token.
func (s *Server) Login(t testing.TB, user, password string) Cred {
	t.Helper()
	r := s.Do(t, Cred{}, http.MethodPost, "/c/login", url.Values{"principal": {user}, "password": {password}})
	r.Want(t, http.StatusOK)
	c := Cred{CSRF: r.Header.Get("X-Harbor-CSRF-Token")}
	c.Cookies = (&http.Response{Header: r.Header}).Cookies()
	if len(c.Cookies) == 0 || c.CSRF == "" {
		t.Fatalf("login as %s: no session cookie or CSRF token", user)
	}
	return c
}

// LoginAdmin opens a portal session as the administrator.
func (s *Server) LoginAdmin(t testing.TB) Cred {
	t.Helper()
	return s.Login(t, "admin", AdminPassword)
}

// CreateProject creates a project as the administrator.
func (s *Server) CreateProject(t testing.TB, name string, public bool) {
	t.Helper()
	pub := "false"
	if public {
		pub = "true"
	}
	s.REST(t, http.MethodPost, "projects", map[string]any{"project_name": name, "metadata": map[string]string{"public": pub}}).
		Want(t, http.StatusCreated)
}

// CreateUser creates a local user as the administrator and returns its id.
func (s *Server) CreateUser(t testing.TB, name, password string, sysadmin bool) int64 {
	t.Helper()
	r := s.REST(t, http.MethodPost, "users", map[string]any{
		"username": name, "password": password, "email": name + "@example.test", "realname": name,
	}).Want(t, http.StatusCreated)
	loc := r.Header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("create user %s: Location %q holds no id", name, loc)
	}
	if sysadmin {
		s.REST(t, http.MethodPut, "users/"+strconv.FormatInt(id, 10)+"/sysadmin", map[string]bool{"sysadmin_flag": true}).
			Want(t, http.StatusOK)
	}
	return id
}

// AddMember makes user a member of project with role (1 projectAdmin,
// 2 developer, 3 guest, 4 maintainer, 5 limitedGuest).
func (s *Server) AddMember(t testing.TB, project, user string, role int) {
	t.Helper()
	s.REST(t, http.MethodPost, "projects/"+project+"/members", map[string]any{
		"role_id": role, "member_user": map[string]string{"username": user},
	}).Want(t, http.StatusCreated)
}

// Image is what PushImage stored.
type Image struct {
	Manifest, Config, Layer digest.Digest
	// ManifestBytes is the manifest as pushed.
	ManifestBytes []byte
	// Size is the manifest's, the config's and the layer's sizes together.
	Size int64
}

// PushImage pushes a one-layer OCI image with random content to repo:tag
// through /v2/ as c: both blobs monolithically, then the manifest. The
// project (repo's first segment) must exist.
func (s *Server) PushImage(t testing.TB, c Cred, repo, tag string) Image {
	t.Helper()
	seed := randomHex(t, 8)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := make([]byte, 512)
	if _, err := rand.Read(layer); err != nil {
		t.Fatal(err)
	}
	img := Image{Config: s.PushBlob(t, c, repo, cfg), Layer: s.PushBlob(t, c, repo, layer)}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.Config, "size": len(cfg)},
		"layers": []map[string]any{
			{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": img.Layer, "size": len(layer)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Do(t, c, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, m,
		"Content-Type", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusCreated)
	img.Manifest, img.ManifestBytes = digest.FromBytes(m), m
	img.Size = int64(len(m) + len(cfg) + len(layer))
	return img
}

// PushBlob uploads b into repo monolithically (POST ?digest=) as c.
func (s *Server) PushBlob(t testing.TB, c Cred, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	s.Do(t, c, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b,
		"Content-Type", "application/octet-stream").Want(t, http.StatusCreated)
	return d
}

// Eventually calls cond until it reports true, for up to timeout (what
// the server does asynchronously, such as writing audit entries).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
