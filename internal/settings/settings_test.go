package settings

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(st store, c *clock) *Service {
	return New(st, slog.New(slog.DiscardHandler), Options{TTL: 5 * time.Second, Now: c.now})
}

func ldapSettings() Settings {
	s := Defaults()
	s.AuthMode = AuthModeLDAP
	s.LDAP.URL, s.LDAP.BaseDN = "ldap://127.0.0.1:3389", "dc=berth,dc=test"
	s.LDAP.SearchDN, s.LDAP.SearchPassword = "cn=search,dc=berth,dc=test", "search-secret"
	return s
}

func TestSeedThenDatabaseWins(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, st *meta.Store) {
		ctx := t.Context()
		c := &clock{t: time.Unix(1e9, 0)}
		svc := newService(st.Settings, c)

		got, err := svc.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(Defaults(), got); d != "" {
			t.Errorf("empty database (-want +got):\n%s", d)
		}

		first := ldapSettings()
		written, err := svc.Seed(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if len(written) != len(Keys())-1 { // every key but the read-only self_registration
			t.Errorf("first seed wrote %v", written)
		}
		got, err = svc.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(first, got); d != "" {
			t.Errorf("after seed (-want +got):\n%s", d)
		}

		// A change at run time, then a restart with other file values: the database wins.
		if _, _, err := svc.Update(ctx, map[string]string{"project_creation_restriction": "adminonly"}); err != nil {
			t.Fatal(err)
		}
		other := Defaults()
		other.LDAP.URL = "ldap://elsewhere"
		restarted := newService(st.Settings, c)
		written, err = restarted.Seed(ctx, other)
		if err != nil || len(written) != 0 {
			t.Fatalf("second seed wrote %v, %v; want nothing", written, err)
		}
		got, err = restarted.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := first
		want.ProjectCreationRestriction = ProjectCreationAdminOnly
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("after restart (-want +got):\n%s", d)
		}
	})
}

func TestSeedFillsOnlyMissingKeys(t *testing.T) {
	st := metatest.OpenSQLite(t)
	ctx := t.Context()
	if err := st.Settings.SetConfigurations(ctx, map[string]string{"ldap_uid": "cn"}); err != nil {
		t.Fatal(err)
	}
	svc := newService(st.Settings, &clock{t: time.Unix(1e9, 0)})
	written, err := svc.Seed(ctx, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range written {
		if w == "ldap_uid" {
			t.Errorf("seed overwrote ldap_uid")
		}
	}
	got, err := svc.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.LDAP.UID != "cn" {
		t.Errorf("ldap_uid = %q, want the stored cn", got.LDAP.UID)
	}
}

// TestChangeSeenByOtherReplica: two services on one database, as two
// replicas: a change on one is seen by the other once its cache expires.
func TestChangeSeenByOtherReplica(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, st *meta.Store) {
		ctx := t.Context()
		c := &clock{t: time.Unix(1e9, 0)}
		a, b := newService(st.Settings, c), newService(st.Settings, c)
		if _, err := b.Get(ctx); err != nil { // b caches db_auth
			t.Fatal(err)
		}
		want := ldapSettings()
		changes := map[string]string{}
		for _, k := range []string{"auth_mode", "ldap_url", "ldap_base_dn", "ldap_search_dn", "ldap_search_password"} {
			key, _ := LookupKey(k)
			changes[k] = want.Value(key)
		}
		got, changed, err := a.Update(ctx, changes)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Update result (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"auth_mode", "ldap_url", "ldap_search_dn", "ldap_search_password", "ldap_base_dn"}, changed); d != "" {
			t.Errorf("changed keys (-want +got):\n%s", d)
		}
		if cur, _ := a.Get(ctx); cur.AuthMode != AuthModeLDAP {
			t.Errorf("the changing replica sees %s, want ldap_auth at once", cur.AuthMode)
		}
		if cur, _ := b.Get(ctx); cur.AuthMode != AuthModeDB {
			t.Errorf("the other replica sees %s within its TTL, want its cached db_auth", cur.AuthMode)
		}
		c.advance(5 * time.Second)
		cfg, on, err := b.LDAP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !on || cfg.URL != want.LDAP.URL || cfg.SearchPassword != "search-secret" {
			t.Errorf("other replica after the TTL: ldap on=%v cfg=%v", on, cfg)
		}
		// Unchanged values are not reported as changes.
		if _, changed, err := a.Update(ctx, map[string]string{"ldap_url": want.LDAP.URL}); err != nil || len(changed) != 0 {
			t.Errorf("same value: changed %v, err %v", changed, err)
		}
	})
}

func TestUpdateErrors(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string // keys named by the error
	}{
		{"unknown key", map[string]string{"oidc_endpoint": "x"}, []string{"oidc_endpoint"}},
		{"not an integer", map[string]string{"ldap_timeout": "soon"}, []string{"ldap_timeout"}},
		{"not a bool", map[string]string{"ldap_verify_cert": "maybe"}, []string{"ldap_verify_cert"}},
		{"bad auth mode", map[string]string{"auth_mode": "oidc_auth"}, []string{"auth_mode"}},
		{"bad restriction", map[string]string{"project_creation_restriction": "nobody"}, []string{"project_creation_restriction"}},
		{"bad scope", map[string]string{"ldap_scope": "3"}, []string{"ldap_scope"}},
		{"ldap_auth without a server", map[string]string{"auth_mode": "ldap_auth"}, []string{"ldap_url is empty", "ldap_base_dn is empty"}},
		{"self-registration", map[string]string{"self_registration": "true"}, []string{"self_registration"}},
		{"every problem at once", map[string]string{"ldap_timeout": "x", "auth_mode": "y"}, []string{"ldap_timeout", "auth_mode"}},
	}
	st := metatest.OpenSQLite(t)
	svc := newService(st.Settings, &clock{t: time.Unix(1e9, 0)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := svc.Update(t.Context(), tt.changes)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Update err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	got, err := svc.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Defaults(), got); d != "" {
		t.Errorf("failed updates changed the settings (-want +got):\n%s", d)
	}
	if _, _, err := svc.Update(t.Context(), map[string]string{"self_registration": "false"}); err != nil {
		t.Errorf("self_registration false: %v", err)
	}
}

// failingStore fails reads once told to.
type failingStore struct {
	store
	fail bool
}

func (f *failingStore) GetConfigurations(ctx context.Context) (map[string]string, error) {
	if f.fail {
		return nil, meta.ErrUnavailable
	}
	return f.store.GetConfigurations(ctx)
}

func TestGetKeepsLastSettingsWhenStoreFails(t *testing.T) {
	fs := &failingStore{store: metatest.OpenSQLite(t).Settings}
	c := &clock{t: time.Unix(1e9, 0)}
	svc := newService(fs, c)
	fs.fail = true
	if _, err := svc.Get(t.Context()); !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("Get with nothing read yet: err = %v, want ErrUnavailable", err)
	}
	fs.fail = false
	if _, _, err := svc.Update(t.Context(), map[string]string{"ldap_uid": "cn"}); err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	c.advance(time.Minute)
	got, err := svc.Get(t.Context())
	if err != nil || got.LDAP.UID != "cn" {
		t.Errorf("Get during an outage = %v, %v; want the last settings", got.LDAP.UID, err)
	}
}

func TestKeys(t *testing.T) {
	var secret, readOnly []string
	for _, k := range Keys() {
		if k.Secret {
			secret = append(secret, k.Name)
		}
		if k.ReadOnly {
			readOnly = append(readOnly, k.Name)
		}
	}
	if d := cmp.Diff([]string{"ldap_search_password"}, secret); d != "" {
		t.Errorf("secret keys (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"self_registration"}, readOnly); d != "" {
		t.Errorf("read-only keys (-want +got):\n%s", d)
	}
	s := Defaults()
	s.LDAP.Scope = ldap.ScopeOneLevel
	k, _ := LookupKey("ldap_scope")
	if k.Kind != KindInt || s.Value(k) != "1" {
		t.Errorf("ldap_scope: kind %v value %q", k.Kind, s.Value(k))
	}
}
