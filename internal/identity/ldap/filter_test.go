package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// These tests need no LDAP server.

func TestFilters(t *testing.T) {
	t.Parallel()
	cfg := Config{Filter: "(objectClass=inetOrgPerson)", UID: "uid", GroupFilter: "objectClass=groupOfNames"}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"user", userFilter(cfg, "alice"), `(&(objectClass=inetOrgPerson)(uid=alice))`},
		{"user star", userFilter(cfg, "*"), `(&(objectClass=inetOrgPerson)(uid=\2a))`},
		{"user injection", userFilter(cfg, "alice)(uid=*"), `(&(objectClass=inetOrgPerson)(uid=alice\29\28uid=\2a))`},
		{"user backslash and NUL", userFilter(cfg, "a\\b\x00"), `(&(objectClass=inetOrgPerson)(uid=a\5cb\00))`},
		{"user non-ASCII", userFilter(cfg, "zoë"), `(&(objectClass=inetOrgPerson)(uid=zo\c3\ab))`},
		{"user no filter, default uid", userFilter(Config{}, "bob"), `(&(objectClass=*)(uid=bob))`},
		{"user filter without parentheses", userFilter(Config{Filter: " objectClass=person ", UID: "cn"}, "x"), `(&(objectClass=person)(cn=x))`},
		{"user search all", userSearchFilter(cfg, ""), `(&(objectClass=inetOrgPerson)(uid=*))`},
		{"user search substring", userSearchFilter(cfg, "al"), `(&(objectClass=inetOrgPerson)(uid=*al*))`},
		{"user search star is literal", userSearchFilter(cfg, "*"), `(&(objectClass=inetOrgPerson)(uid=*\2a*))`},
		{"group search all", groupSearchFilter(cfg, ""), `(&(objectClass=groupOfNames)(cn=*))`},
		{"group search substring", groupSearchFilter(cfg, "dev)"), `(&(objectClass=groupOfNames)(cn=*dev\29*))`},
		{"member", memberFilter(cfg, `uid=a\,b,ou=people,dc=x`), `(&(objectClass=groupOfNames)(|(member=uid=a\5c,b,ou=people,dc=x)(uniqueMember=uid=a\5c,b,ou=people,dc=x)))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("filter = %s, want %s", tt.got, tt.want)
			}
			if _, err := goldap.CompileFilter(tt.got); err != nil {
				t.Errorf("filter %s does not compile: %v", tt.got, err)
			}
		})
	}
}

func validConfig() Config {
	c := DefaultConfig()
	c.URL = "ldap://127.0.0.1:389"
	c.SearchDN = "cn=search,dc=example,dc=org"
	c.SearchPassword = "secret"
	c.BaseDN = "ou=people,dc=example,dc=org"
	c.Filter = "(objectClass=inetOrgPerson)"
	c.GroupBaseDN = "ou=groups,dc=example,dc=org"
	c.GroupAdminDN = "cn=admins,ou=groups,dc=example,dc=org"
	return c
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" for valid; else a substring of the error
	}{
		{"valid", func(*Config) {}, ""},
		{"ldaps", func(c *Config) { c.URL = "ldaps://ldap.example.org" }, ""},
		{"no scheme", func(c *Config) { c.URL = "ldap.example.org:1389" }, ""},
		{"anonymous search", func(c *Config) { c.SearchDN, c.SearchPassword = "", "" }, ""},
		{"no url", func(c *Config) { c.URL = "" }, "ldap_url is empty"},
		{"bad scheme", func(c *Config) { c.URL = "http://x" }, "scheme must be ldap or ldaps"},
		{"no host", func(c *Config) { c.URL = "ldap://:389" }, "has no host"},
		{"starttls on ldaps", func(c *Config) { c.URL, c.StartTLS = "ldaps://x", true }, "ldap_start_tls"},
		{"no base dn", func(c *Config) { c.BaseDN = "" }, "ldap_base_dn is empty"},
		{"bad base dn", func(c *Config) { c.BaseDN = "not a dn" }, "ldap_base_dn"},
		{"bad admin dn", func(c *Config) { c.GroupAdminDN = "cn" }, "ldap_group_admin_dn"},
		{"password without dn", func(c *Config) { c.SearchDN = "" }, "ldap_search_dn is empty"},
		{"bad uid", func(c *Config) { c.UID = "uid)(x=*" }, "ldap_uid"},
		{"bad scope", func(c *Config) { c.Scope = 3 }, "ldap_scope 3"},
		{"bad group scope", func(c *Config) { c.GroupScope = -1 }, "ldap_group_search_scope -1"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "ldap_timeout"},
		{"bad filter", func(c *Config) { c.Filter = "(objectClass=person" }, "ldap_filter"},
		{"bad group filter", func(c *Config) { c.GroupFilter = "(&(cn=a)" }, "ldap_group_search_filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrMisconfigured) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrMisconfigured mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := Config{URL: "ftp://x", Scope: 9, Filter: "("}.Validate()
	for _, want := range []string{"ldap_url", "ldap_base_dn", "ldap_scope", "ldap_filter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		addr     string
		ldaps    bool
		startTLS bool
	}{
		{"ldap://ldap.example.org", "ldap.example.org:389", false, false},
		{"ldaps://ldap.example.org", "ldap.example.org:636", true, false},
		{"LDAPS://ldap.example.org:1636/", "ldap.example.org:1636", true, false},
		{"ldap.example.org", "ldap.example.org:389", false, false},
		{"ldap://[::1]:1389", "[::1]:1389", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			addr, ldaps, err := Config{URL: tt.url, StartTLS: tt.startTLS}.endpoint()
			if err != nil || addr != tt.addr || ldaps != tt.ldaps {
				t.Fatalf("endpoint() = %q, %v, %v; want %q, %v", addr, ldaps, err, tt.addr, tt.ldaps)
			}
		})
	}
}

func TestValidAttribute(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"uid": true, "sAMAccountName": true, "x-berth-id": true, "2.5.4.3": true,
		"": false, "-uid": false, "1uid": false, "2.5.": false, "2..5": false,
		"uid;lang-en": false, "u id": false, "uid=*": false, "cn)(x": false,
	} {
		if got := validAttribute(name); got != want {
			t.Errorf("validAttribute(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsAdmin(t *testing.T) {
	t.Parallel()
	cfg := Config{GroupAdminDN: "cn=Berth-Admins, ou=groups,dc=berth,dc=test"}
	tests := []struct {
		name   string
		cfg    Config
		groups []string
		want   bool
	}{
		{"same DN, other case and spacing", cfg, []string{"cn=x,dc=y", "CN=berth-admins,ou=Groups,dc=berth,dc=test"}, true},
		{"not a member", cfg, []string{"cn=developers,ou=groups,dc=berth,dc=test"}, false},
		{"parent is not the group", cfg, []string{"ou=groups,dc=berth,dc=test"}, false},
		{"no admin group configured", Config{}, []string{"cn=berth-admins,ou=groups,dc=berth,dc=test"}, false},
		{"no groups", cfg, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isAdmin(tt.cfg, tt.groups); got != tt.want {
				t.Errorf("isAdmin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogValueHidesPassword(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ldap settings", "ldap", validConfig())
	if strings.Contains(buf.String(), "secret") {
		t.Fatalf("log line holds the search password: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"ldap_search_password_set":true`) {
		t.Fatalf("log line does not say whether a password is set: %s", buf.String())
	}
}

func TestAuthenticateRefusesEmptyInputWithoutServer(t *testing.T) {
	t.Parallel()
	cfg := validConfig()
	cfg.URL = "ldap://192.0.2.1:389" // TEST-NET: never dialled
	for _, c := range []struct{ user, pass string }{{"alice", ""}, {"", "pw"}, {"", ""}} {
		if _, err := Authenticate(t.Context(), cfg, c.user, c.pass); err != ErrInvalidCredentials {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrInvalidCredentials", c.user, c.pass, err)
		}
	}
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		timeout int
		ctx     func(context.Context) context.Context
		within  time.Duration
		wantCtx error
	}{
		{"connection refused", "ldap://" + closedPort(t), 5, nil, time.Second, nil},
		{"ldaps connection refused", "ldaps://" + closedPort(t), 5, nil, time.Second, nil},
		{"server never answers: ldap_timeout", "ldap://" + silentServer(t), 1, nil, 3 * time.Second, context.DeadlineExceeded},
		{"server never answers: ldaps handshake", "ldaps://" + silentServer(t), 1, nil, 3 * time.Second, context.DeadlineExceeded},
		{"server never answers: caller's deadline", "ldap://" + silentServer(t), 30, func(ctx context.Context) context.Context {
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, 2 * time.Second, context.DeadlineExceeded},
		{"caller cancels", "ldap://" + silentServer(t), 30, func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx
		}, 2 * time.Second, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			cfg.URL, cfg.Timeout = tt.url, tt.timeout
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			start := time.Now()
			_, err := Authenticate(ctx, cfg, "alice", "alice-secret")
			if took := time.Since(start); took > tt.within {
				t.Errorf("took %v, want under %v", took, tt.within)
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Authenticate = %v, want ErrUnavailable", err)
			}
			if tt.wantCtx != nil && !errors.Is(err, tt.wantCtx) {
				t.Errorf("Authenticate = %v, want it to wrap %v", err, tt.wantCtx)
			}
			if strings.Contains(err.Error(), "alice-secret") || strings.Contains(err.Error(), cfg.SearchPassword) {
				t.Errorf("error %q holds a password", err)
			}
		})
	}
}
