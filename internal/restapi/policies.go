package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/signature"
)

// policyStore is meta.Policies as the policy endpoints use it.
type policyStore interface {
	GetProjectPolicy(ctx context.Context, pid int64) (meta.ProjectPolicy, error)
	SetProjectPolicy(ctx context.Context, p meta.ProjectPolicy) error
	AddSignatureKey(ctx context.Context, k meta.SignatureKey) (meta.SignatureKey, error)
	ListSignatureKeys(ctx context.Context, pid int64) ([]meta.SignatureKey, error)
	DeleteSignatureKey(ctx context.Context, pid, id int64) error
}

// policyRoutes registers the signature keys of a project (Berth's own
// endpoints; Harbor has none).
func (a *API) policyRoutes(mux *http.ServeMux) {
	const keys = Prefix + "/projects/{project_name_or_id}/signature-keys"
	a.handle(mux, "GET "+keys, a.listSignatureKeys)
	a.handle(mux, "POST "+keys, a.addSignatureKey)
	a.handle(mux, "DELETE "+keys+"/{key_id}", a.deleteSignatureKey)
}

func (a *API) policies() (policyStore, error) {
	if a.d.Policies == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "project policies are not configured")
	}
	return a.d.Policies, nil
}

// maxSignatureKeys bounds a project's keys.
const maxSignatureKeys = 20

type signatureKeyJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	PublicKey    string    `json:"public_key"`
	Fingerprint  string    `json:"fingerprint"`
	Algorithm    string    `json:"algorithm"`
	CreationTime time.Time `json:"creation_time"`
}

func (a *API) listSignatureKeys(w http.ResponseWriter, r *http.Request) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMetadata, access.ActionRead)
	if err != nil {
		return err
	}
	ks, err := st.ListSignatureKeys(r.Context(), proj.ID)
	if err != nil {
		return err
	}
	out := make([]signatureKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, signatureKeyJSON{ID: k.ID, Name: k.Name, PublicKey: k.PublicKey, Fingerprint: k.Fingerprint,
			Algorithm: k.Algorithm, CreationTime: k.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

// addSignatureKey is POST .../signature-keys {"name": ..., "public_key":
// PEM}: from then on pulls from the project need a cosign signature that
// verifies against one of its keys. Project admins only.
func (a *API) addSignatureKey(w http.ResponseWriter, r *http.Request) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionUpdate)
	if err != nil {
		return err
	}
	var req struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 128 {
		return errBadRequest("name must have 1 to 128 characters")
	}
	if len(req.PublicKey) > 16<<10 {
		return errBadRequest("public_key is longer than 16 KiB")
	}
	_, fp, alg, err := signature.ParsePublicKey(req.PublicKey)
	if err != nil {
		return errBadRequest("public_key: %v", err)
	}
	ks, err := st.ListSignatureKeys(r.Context(), proj.ID)
	if err != nil {
		return err
	}
	if len(ks) >= maxSignatureKeys {
		return errBadRequest("a project holds at most %d signature keys", maxSignatureKeys)
	}
	k, err := st.AddSignatureKey(r.Context(), meta.SignatureKey{ProjectID: proj.ID, Name: req.Name,
		PublicKey: strings.TrimSpace(req.PublicKey) + "\n", Fingerprint: fp, Algorithm: alg})
	if errors.Is(err, meta.ErrSignatureKeyExists) {
		return newError(codeConflict, http.StatusConflict, "%s", err.Error())
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", location("projects", strconv.FormatInt(proj.ID, 10), "signature-keys", strconv.FormatInt(k.ID, 10)))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) deleteSignatureKey(w http.ResponseWriter, r *http.Request) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("key_id"), 10, 64)
	if err != nil || id < 1 {
		return errBadRequest("key_id must be a positive integer")
	}
	if err := st.DeleteSignatureKey(r.Context(), proj.ID, id); err != nil {
		if errors.Is(err, meta.ErrSignatureKeyNotFound) {
			return errNotFound("%s", err.Error())
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// Harbor's project metadata keys of the supply-chain policy (the values
// are strings, as in Harbor).
const (
	metaContentTrustCosign = "enable_content_trust_cosign"
	metaPreventVul         = "prevent_vul"
	metaSeverity           = "severity"
	metaReuseSysAllowlist  = "reuse_sys_cve_allowlist"
	metaAutoScan           = "auto_scan"
)

var policyMetaKeys = []string{metaContentTrustCosign, metaPreventVul, metaSeverity, metaReuseSysAllowlist, metaAutoScan}

// severities are Harbor's, lowest first.
var severities = []string{"none", "unknown", "low", "medium", "high", "critical"}

func isPolicyMeta(name string) bool {
	for _, k := range policyMetaKeys {
		if k == name {
			return true
		}
	}
	return false
}

// policyMetadata returns the policy keys of proj as Harbor's metadata map.
func (a *API) policyMetadata(ctx context.Context, pid int64) (map[string]string, error) {
	if a.d.Policies == nil {
		return map[string]string{}, nil
	}
	p, err := a.d.Policies.GetProjectPolicy(ctx, pid)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		metaContentTrustCosign: strconv.FormatBool(p.ContentTrustCosign),
		metaPreventVul:         strconv.FormatBool(p.PreventVul),
		metaSeverity:           p.Severity,
		metaReuseSysAllowlist:  strconv.FormatBool(p.ReuseSysCVEAllowlist),
		metaAutoScan:           strconv.FormatBool(p.AutoScan),
	}, nil
}

// setPolicyMetadata applies Harbor metadata values (only policy keys) to
// project pid's policy.
func (a *API) setPolicyMetadata(ctx context.Context, pid int64, values map[string]string) error {
	return a.changePolicy(ctx, pid, func(p *meta.ProjectPolicy) error { return applyPolicyMetadata(p, values) })
}

// changePolicy reads project pid's policy, changes it with fn and stores
// it.
func (a *API) changePolicy(ctx context.Context, pid int64, fn func(p *meta.ProjectPolicy) error) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	p, err := st.GetProjectPolicy(ctx, pid)
	if err != nil {
		return err
	}
	if err := fn(&p); err != nil {
		return err
	}
	return st.SetProjectPolicy(ctx, p)
}

// applyPolicyMetadata sets Harbor metadata values (only policy keys) on p.
func applyPolicyMetadata(p *meta.ProjectPolicy, values map[string]string) error {
	for k, v := range values {
		switch k {
		case metaSeverity:
			v = strings.ToLower(v)
			ok := false
			for _, s := range severities {
				ok = ok || s == v
			}
			if !ok {
				return errBadRequest("severity must be one of %s", strings.Join(severities, ", "))
			}
			p.Severity = v
		case metaContentTrustCosign, metaPreventVul, metaReuseSysAllowlist, metaAutoScan:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errBadRequest(`%s must be "true" or "false", got %q`, k, truncate(v, 20))
			}
			switch k {
			case metaContentTrustCosign:
				p.ContentTrustCosign = b
			case metaPreventVul:
				p.PreventVul = b
			case metaAutoScan:
				p.AutoScan = b
			default:
				p.ReuseSysCVEAllowlist = b
			}
		default:
			return errBadRequest("project metadata %q cannot be set with the others", truncate(k, 100))
		}
	}
	return nil
}

// policyMeta is the supply-chain part of Harbor's ProjectMetadata (string
// values, as in Harbor): read from GET /projects/{p}, accepted by POST
// and PUT /projects.
type policyMeta struct {
	EnableContentTrustCosign string `json:"enable_content_trust_cosign,omitempty"`
	PreventVul               string `json:"prevent_vul,omitempty"`
	Severity                 string `json:"severity,omitempty"`
	AutoScan                 string `json:"auto_scan,omitempty"`
	ReuseSysCVEAllowlist     string `json:"reuse_sys_cve_allowlist,omitempty"`
}

func (m policyMeta) values() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{metaContentTrustCosign: m.EnableContentTrustCosign, metaPreventVul: m.PreventVul,
		metaSeverity: m.Severity, metaAutoScan: m.AutoScan, metaReuseSysAllowlist: m.ReuseSysCVEAllowlist} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// setProjectPolicy applies the policy metadata keys and the CVE allowlist
// of a project request, if it has any.
func (a *API) setProjectPolicy(ctx context.Context, pid int64, req projectReq) error {
	var values map[string]string
	if req.Metadata != nil {
		values = req.Metadata.values()
	}
	if len(values) == 0 && req.CVEAllowlist == nil {
		return nil
	}
	return a.changePolicy(ctx, pid, func(p *meta.ProjectPolicy) error {
		if err := applyPolicyMetadata(p, values); err != nil {
			return err
		}
		if req.CVEAllowlist == nil {
			return nil
		}
		return req.CVEAllowlist.apply(p)
	})
}

// projectPolicyJSON fills in the policy metadata and the CVE allowlist of
// a project's JSON.
func (a *API) projectPolicyJSON(ctx context.Context, out *projectJSON) error {
	if a.d.Policies == nil {
		return nil
	}
	p, err := a.d.Policies.GetProjectPolicy(ctx, out.ProjectID)
	if err != nil {
		return err
	}
	out.Metadata.policyMeta = policyMeta{EnableContentTrustCosign: strconv.FormatBool(p.ContentTrustCosign),
		PreventVul: strconv.FormatBool(p.PreventVul), Severity: p.Severity, AutoScan: strconv.FormatBool(p.AutoScan),
		ReuseSysCVEAllowlist: strconv.FormatBool(p.ReuseSysCVEAllowlist)}
	al := allowlistOf(p)
	out.CVEAllowlist.Items, out.CVEAllowlist.ExpiresAt = al.Items, al.ExpiresAt
	if !p.UpdatedAt.IsZero() {
		out.CVEAllowlist.UpdateTime = p.UpdatedAt
	}
	return nil
}

// allowlistOf is p's CVE allowlist in Harbor's shape.
func allowlistOf(p meta.ProjectPolicy) allowlistJSON {
	out := allowlistJSON{Items: []cveItem{}, Update: p.UpdatedAt, Creation: p.UpdatedAt}
	if p.ProjectID != meta.SystemPolicy {
		out.ProjectID = p.ProjectID
	}
	if p.AllowlistExpiresAt != 0 {
		out.ExpiresAt = &p.AllowlistExpiresAt
	}
	for _, id := range p.CVEAllowlist {
		out.Items = append(out.Items, cveItem{CVEID: id})
	}
	return out
}

// maxAllowlist bounds a CVE allowlist.
const maxAllowlist = 1000

// apply replaces p's CVE allowlist and its expiry with in's.
func (in allowlistJSON) apply(p *meta.ProjectPolicy) error {
	if len(in.Items) > maxAllowlist {
		return errBadRequest("at most %d CVE ids", maxAllowlist)
	}
	ids := []string{}
	for _, it := range in.Items {
		id := strings.TrimSpace(it.CVEID)
		if id == "" || len(id) > 64 {
			return errBadRequest("every item needs a cve_id of at most 64 characters")
		}
		ids = append(ids, id)
	}
	p.CVEAllowlist, p.AllowlistExpiresAt = ids, 0
	if in.ExpiresAt != nil {
		p.AllowlistExpiresAt = *in.ExpiresAt
	}
	return nil
}
