package restapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/docs"
)

// pinger checks that the metadata database answers (*meta.Store).
type pinger interface {
	Ping(ctx context.Context) error
}

// configStore reads the stored system settings (meta.Settings).
type configStore interface {
	GetConfigurations(ctx context.Context) (map[string]string, error)
}

// storageProber checks that blob storage answers.
type storageProber interface {
	Probe(ctx context.Context) error
}

// ping is GET /ping: "Pong" when the API answers.
func (a *API) ping(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Pong"))
	return nil
}

// healthTimeout bounds each component check of GET /health.
const healthTimeout = 3 * time.Second

// health is GET /health: Harbor's OverallHealthStatus for the database
// and blob storage. It answers 200 either way (the body says
// "unhealthy"); /readyz is the probe that fails.
func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	type component struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	out := struct {
		Status     string      `json:"status"`
		Components []component `json:"components"`
	}{Status: "healthy"}
	check := func(name string, probe func(context.Context) error) {
		c := component{Name: name, Status: "healthy"}
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := probe(ctx); err != nil {
			a.log.WarnContext(ctx, "health check failed", "component", name, "err", err)
			c.Status, c.Error, out.Status = "unhealthy", name+" unavailable", "unhealthy"
		}
		out.Components = append(out.Components, c)
	}
	check("database", a.d.DB.Ping)
	if a.d.Storage != nil {
		check("storage", a.d.Storage.Probe)
	}
	return writeJSON(w, http.StatusOK, out)
}

// systemInfo is GET /systeminfo: Harbor's GeneralInfo. Anonymous callers
// get only what the login page needs (auth mode, registration, time);
// logged-in callers also get the version, URLs and settings (read_only
// included).
func (a *API) systemInfo(w http.ResponseWriter, r *http.Request) error {
	settings, err := a.d.Configs.GetConfigurations(r.Context())
	if err != nil {
		return err
	}
	authMode := settings["auth_mode"]
	if authMode == "" {
		authMode = "db_auth"
	}
	type info struct {
		AuthMode                   string    `json:"auth_mode"`
		PrimaryAuthMode            bool      `json:"primary_auth_mode"`
		SelfRegistration           bool      `json:"self_registration"`
		CurrentTime                time.Time `json:"current_time"`
		HarborVersion              string    `json:"harbor_version,omitempty"`
		ExternalURL                string    `json:"external_url,omitempty"`
		RegistryURL                string    `json:"registry_url,omitempty"`
		ProjectCreationRestriction string    `json:"project_creation_restriction,omitempty"`
		StorageProvider            string    `json:"registry_storage_provider_name,omitempty"`
		HasCARoot                  *bool     `json:"has_ca_root,omitempty"`
		ReadOnly                   *bool     `json:"read_only,omitempty"`
		WithNotary                 *bool     `json:"with_notary,omitempty"`
		NotificationEnable         *bool     `json:"notification_enable,omitempty"`
	}
	out := info{AuthMode: authMode, CurrentTime: a.d.Now().UTC()}
	if caller(r).Authenticated() {
		no := false
		ext := a.externalURL(r)
		out.HarborVersion, out.ExternalURL = a.d.System.Version, ext
		if u, err := url.Parse(ext); err == nil {
			out.RegistryURL = u.Host
		}
		if out.ProjectCreationRestriction, err = a.d.ProjectService.CreationRestriction(r.Context()); err != nil {
			return err
		}
		out.StorageProvider = a.d.System.StorageProvider
		readOnly := settings["read_only"] == "true" // the read_only setting, as stored
		out.HasCARoot, out.ReadOnly, out.WithNotary, out.NotificationEnable = &no, &readOnly, &no, &no
	}
	return writeJSON(w, http.StatusOK, out)
}

// externalURL is the configured external URL, or the one the request
// came in on.
func (a *API) externalURL(r *http.Request) string {
	if a.d.System.ExternalURL != "" {
		return a.d.System.ExternalURL
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// openAPI is GET /openapi.yaml: Berth's OpenAPI document.
func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(docs.OpenAPI())
	return nil
}
