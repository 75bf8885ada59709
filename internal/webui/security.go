package webui

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/signature"
)

// signatureChecker says how an artifact stands under its project's
// signature policy (*signature.Verifier).
type signatureChecker interface {
	Status(ctx context.Context, repo string, d digest.Digest) (signature.Status, error)
}

// artifactSignature returns repo@d's signature status, nil when it cannot
// be told (not configured, or the check failed: the page shows the rest).
func (u *UI) artifactSignature(ctx context.Context, repo string, d digest.Digest) *signature.Status {
	if u.d.Signatures == nil {
		return nil
	}
	st, err := u.d.Signatures.Status(ctx, repo, d)
	if err != nil {
		return nil
	}
	return &st
}

// scanReportStore reads an artifact's scan reports (*meta.Scans).
type scanReportStore interface {
	ArtifactScanReports(ctx context.Context, repo string, d digest.Digest) ([]meta.ScanReport, error)
}

// maxVulnsShown bounds the vulnerabilities listed on an artifact page.
const maxVulnsShown = 200

// scanView is an artifact's latest vulnerability scan as its page shows
// it: the status, the highest severity, the counts and the findings,
// most severe first.
type scanView struct {
	Status   string
	Severity string
	Total    int
	Fixable  int
	Vulns    []scan.Vuln
	More     int
}

// artifactScan returns the latest vulnerability report of repo@d, nil when
// there is none (or scanning is not configured).
func (u *UI) artifactScan(ctx context.Context, repo string, d digest.Digest) *scanView {
	if u.d.Scans == nil {
		return nil
	}
	rs, err := u.d.Scans.ArtifactScanReports(ctx, repo, d)
	if err != nil {
		return nil
	}
	for _, r := range rs {
		if r.MimeType != scan.MimeVulnReport {
			continue
		}
		v := &scanView{Status: r.Status}
		if r.Status != meta.ScanSuccess {
			return v
		}
		sum, err := scan.Summarize([]byte(r.Report))
		if err != nil {
			return v
		}
		v.Severity, v.Total, v.Fixable, v.Vulns = sum.Severity, sum.Total, sum.Fixable, sum.Vulns
		sort.SliceStable(v.Vulns, func(i, j int) bool { return scan.Rank(v.Vulns[i].Severity) > scan.Rank(v.Vulns[j].Severity) })
		if len(v.Vulns) > maxVulnsShown {
			v.Vulns, v.More = v.Vulns[:maxVulnsShown], len(v.Vulns)-maxVulnsShown
		}
		return v
	}
	return nil
}

// supplyStore reads a project's supply-chain settings and changes its
// pull policies (*meta.Policies).
type supplyStore interface {
	GetProjectPolicy(ctx context.Context, pid int64) (meta.ProjectPolicy, error)
	SetProjectPolicy(ctx context.Context, p meta.ProjectPolicy) error
	ListSignatureKeys(ctx context.Context, pid int64) ([]meta.SignatureKey, error)
}

// webhookLister lists a project's webhook policies (*meta.Webhooks).
type webhookLister interface {
	ListWebhookPolicies(ctx context.Context, projectID int64, pg meta.Page) ([]meta.WebhookPolicy, int, error)
}

// supplyView is a project's supply-chain settings as its settings tab
// shows them: the pull policies, the signature keys and the webhook
// policies (addresses and event types; never an auth header).
type supplyView struct {
	Policy   meta.ProjectPolicy
	CanEdit  bool     // project administrators change the pull policies here
	Levels   []string // the severities to choose from
	Keys     []meta.SignatureKey
	Webhooks []webhookRow
	More     int
}

type webhookRow struct {
	Name       string
	Enabled    bool
	EventTypes []string
	Addresses  []string
	Secret     bool // an auth header is set (its value is never shown)
}

// maxWebhooksShown bounds the webhook policies the settings tab lists.
const maxWebhooksShown = 50

// projectSupply returns project pid's supply-chain settings, nil when not
// configured or unreadable (the tab shows the rest).
func (u *UI) projectSupply(ctx context.Context, pid int64, canEdit bool) *supplyView {
	if u.d.Policies == nil {
		return nil
	}
	pol, err := u.d.Policies.GetProjectPolicy(ctx, pid)
	if err != nil {
		return nil
	}
	v := &supplyView{Policy: pol, CanEdit: canEdit, Levels: severityLevels}
	if v.Keys, err = u.d.Policies.ListSignatureKeys(ctx, pid); err != nil {
		return nil
	}
	if u.d.Webhooks == nil {
		return v
	}
	ps, total, err := u.d.Webhooks.ListWebhookPolicies(ctx, pid, meta.Page{Limit: maxWebhooksShown})
	if err != nil {
		return nil
	}
	v.More = total - len(ps)
	for _, p := range ps {
		r := webhookRow{Name: p.Name, Enabled: p.Enabled, EventTypes: p.EventTypes}
		for _, t := range p.Targets {
			r.Addresses = append(r.Addresses, t.Address)
			r.Secret = r.Secret || t.AuthHeader != ""
		}
		v.Webhooks = append(v.Webhooks, r)
	}
	return v
}

// severityLevels are Harbor's severity values of prevent_vul, lowest first.
var severityLevels = []string{"none", "unknown", "low", "medium", "high", "critical"}

// saveSupply is POST /projects/{project}/settings/supply: the pull
// policies (require cosign signatures, block vulnerable images at a
// severity, scan on push). Project administrators only.
func (u *UI) saveSupply(c *call) error {
	if u.d.Policies == nil {
		return errNotFound
	}
	proj, err := u.loadProject(c, access.ResourceProject, access.ActionUpdate)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	sev := strings.ToLower(f.Get("severity"))
	if !slices.Contains(severityLevels, sev) {
		return errBadForm
	}
	ctx := c.r.Context()
	pol, err := u.d.Policies.GetProjectPolicy(ctx, proj.ID)
	if err != nil {
		return err
	}
	pol.ContentTrustCosign, pol.PreventVul, pol.AutoScan, pol.Severity = f.Get("cosign") == "on", f.Get("prevent_vul") == "on",
		f.Get("auto_scan") == "on", sev
	if err := u.d.Policies.SetProjectPolicy(ctx, pol); err != nil {
		return err
	}
	return redirect(c, "/projects/"+proj.Name+"/settings?saved=1")
}
