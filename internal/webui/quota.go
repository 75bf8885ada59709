package webui

import (
	"context"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// quotaStore is meta.Quotas as the project quota bar uses it.
type quotaStore interface {
	ProjectUsage(ctx context.Context, pid int64) (meta.Usage, error)
}

// quotaBar is a project's storage use as the project pages show it.
type quotaBar struct {
	Used, Limit, Warn, PendingGC int64
	Limited                      bool
	Percent                      int
}

func (q quotaBar) UsedText() string    { return humanSize(q.Used) }
func (q quotaBar) LimitText() string   { return humanSize(q.Limit) }
func (q quotaBar) PendingText() string { return humanSize(q.PendingGC) }

// quota returns proj's quota bar for callers who may read its quota; nil
// when they may not or it cannot be read (the page shows without it).
func (u *UI) quota(c *call, proj meta.Project) *quotaBar {
	if u.d.Quotas == nil || !access.Can(c.p, access.ProjectOf(proj), access.ResourceQuota, access.ActionRead) {
		return nil
	}
	us, err := u.d.Quotas.ProjectUsage(c.r.Context(), proj.ID)
	if err != nil {
		u.log.WarnContext(c.r.Context(), "portal: project quota", "project", proj.Name, "err", err)
		return nil
	}
	q := &quotaBar{Used: us.Used, Limit: us.Limit, PendingGC: us.PendingGC, Limited: us.Limit > 0}
	if q.Limited {
		q.Warn = us.Limit * meta.QuotaWarnPercent / 100
		q.Percent = int(min(us.Used*100/us.Limit, 999))
	}
	return q
}
