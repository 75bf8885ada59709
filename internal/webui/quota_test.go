package webui_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
)

// TestProjectQuotaBar: the project pages show the project's storage use,
// against its limit when it has one, to who may read the quota; the
// bytes pending garbage collection beside it.
func TestProjectQuotaBar(t *testing.T) {
	e := newEnv(t)
	p := e.addProject("team", false)
	guest := e.addUser("guest")
	e.addMember(p, guest, access.RoleGuest)
	e.pushImage("team/app", "a", nil, "v1")
	used := func(body string) string {
		t.Helper()
		i := strings.Index(body, `id="quota-used">`)
		if i < 0 {
			t.Fatalf("no quota bar on the page: %s", body[strings.Index(body, "<main"):])
		}
		rest := body[i+len(`id="quota-used">`):]
		return rest[:strings.Index(rest, "</span>")]
	}
	admin := e.login("admin", adminPassword)
	if got := used(admin.get("/projects/team").body); !strings.HasSuffix(got, ", no limit") || !strings.Contains(got, " B") {
		t.Errorf("unlimited: %q", got)
	}
	if err := e.store.Quotas.SetLimit(t.Context(), p.ID, 1000); err != nil {
		t.Fatal(err)
	}
	body := e.login("guest", userPassword).get("/projects/team/members").body
	if got := used(body); !strings.Contains(got, "of 1000 B (") {
		t.Errorf("limited, as a guest: %q", got)
	}
	if !strings.Contains(body, `min="0" max="1000" low="850" high="1000"`) {
		t.Errorf("no meter: %s", body[strings.Index(body, `id="quota"`):])
	}
	// Someone who cannot see the project sees no quota.
	e.addUser("outsider")
	if r := e.login("outsider", userPassword).get("/projects/team"); strings.Contains(r.body, `id="quota"`) {
		t.Errorf("an outsider sees the quota (%d)", r.status)
	}
}
