package apptest_test

import (
	"net/http"
	"testing"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestHarness: on each configuration the server answers, a portal login
// works, an image pushed through /v2/ is listed by the REST API and its
// manifest and blobs come back, and a user made by the helpers can log in.
func TestHarness(t *testing.T) {
	apptest.ForEachConfig(t, func(t *testing.T, srv *apptest.Server) {
		srv.Do(t, apptest.Cred{}, http.MethodGet, "/v2/", nil).Want(t, http.StatusUnauthorized)
		srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/", nil).Want(t, http.StatusOK)
		session := srv.LoginAdmin(t)
		srv.Do(t, session, http.MethodGet, "users/current", nil).Want(t, http.StatusOK)

		srv.CreateProject(t, "team", false)
		img := srv.PushImage(t, apptest.Admin(), "team/app", "v1")
		m := srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/team/app/manifests/v1", nil,
			"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
		if string(m.Body) != string(img.ManifestBytes) {
			t.Errorf("manifest = %s, want %s", m.Body, img.ManifestBytes)
		}
		for _, d := range []string{img.Config.String(), img.Layer.String()} {
			srv.Do(t, apptest.Admin(), http.MethodGet, "/v2/team/app/blobs/"+d, nil).Want(t, http.StatusOK)
		}
		var arts []struct{ Digest string }
		srv.REST(t, http.MethodGet, "projects/team/repositories/app/artifacts", nil).Want(t, http.StatusOK).Decode(t, &arts)
		if len(arts) != 1 || arts[0].Digest != img.Manifest.String() {
			t.Errorf("artifacts = %+v, want %s", arts, img.Manifest)
		}

		id := srv.CreateUser(t, "dev", "Passw0rd1", false)
		srv.AddMember(t, "team", "dev", 2)
		srv.Do(t, apptest.Basic("dev", "Passw0rd1"), http.MethodGet, "/v2/team/app/manifests/v1", nil).Want(t, http.StatusOK)
		u, err := srv.Store(t).Users.GetUserByName(t.Context(), "dev")
		if err != nil || u.ID != id {
			t.Errorf("store: user dev = %+v, %v; want id %d", u, err, id)
		}
	})
}
