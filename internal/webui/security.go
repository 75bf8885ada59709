package webui

import (
	"context"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
)

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
