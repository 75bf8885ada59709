package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/retention"
)

// retentionService is tag retention as the portal uses it
// (*retention.Service).
type retentionService interface {
	ProjectPolicyID(ctx context.Context, projectID int64) (int64, error)
	Get(ctx context.Context, id int64) (retention.Policy, error)
	Trigger(ctx context.Context, a project.Actor, id int64, dryRun bool) (meta.RetentionExecution, error)
	Executions(ctx context.Context, id int64, pg meta.Page) ([]meta.RetentionExecution, int, error)
	Tasks(ctx context.Context, id, eid int64, pg meta.Page) ([]meta.RetentionTask, int, error)
}

// retentionRuleView is one rule as the tab shows it.
type retentionRuleView struct {
	ID       int
	Disabled bool
	Template string // its message key
	Param    string // the template's parameter ("" for always)
	Repos    []string
	Tags     []tagSelectorView
}

type tagSelectorView struct {
	Selector string
	Untagged bool
}

// templateKeys are the message keys of the rule templates.
var templateKeys = map[string]string{
	retention.TemplateLatestPushedK:     "retention.template.latestPushedK",
	retention.TemplateLatestPulledN:     "retention.template.latestPulledN",
	retention.TemplateDaysSinceLastPush: "retention.template.nDaysSinceLastPush",
	retention.TemplateDaysSinceLastPull: "retention.template.nDaysSinceLastPull",
	retention.TemplateAlways:            "retention.template.always",
}

// retentionExecView is one execution with its tasks (the newest ones).
type retentionExecView struct {
	meta.RetentionExecution
	Tasks []meta.RetentionTask
}

type retentionView struct {
	projectHead
	PolicyID  int64
	Cron      string
	Rules     []retentionRuleView
	Execs     []retentionExecView
	Paging    paging
	CanRun    bool
	Triggered bool
}

// projectRetention is GET /projects/{project}/retention: the policy's
// rules, run buttons and the execution history with per-repository
// counts. Creating and editing a policy goes through the REST API.
func (u *UI) projectRetention(c *call) error {
	if u.d.Retention == nil {
		return errNotFound
	}
	proj, err := u.loadProject(c, access.ResourceTagRetention, access.ActionList)
	if err != nil {
		return err
	}
	v := retentionView{projectHead: u.head(c, proj, "retention"), Paging: pagingOf(c.r),
		CanRun:    access.Can(c.p, access.ProjectOf(proj), access.ResourceTagRetention, access.ActionOperate),
		Triggered: c.r.URL.Query().Get("triggered") == "1"}
	ctx := c.r.Context()
	if v.PolicyID, err = u.d.Retention.ProjectPolicyID(ctx, proj.ID); err != nil {
		return err
	}
	if v.PolicyID != 0 {
		pol, err := u.d.Retention.Get(ctx, v.PolicyID)
		if err != nil {
			return err
		}
		v.Cron = pol.Cron()
		for _, r := range pol.Rules {
			v.Rules = append(v.Rules, ruleView(r))
		}
		execs, total, err := u.d.Retention.Executions(ctx, v.PolicyID, v.Paging.meta())
		if err != nil {
			return err
		}
		v.Paging.Total = total
		for _, e := range execs {
			tasks, _, err := u.d.Retention.Tasks(ctx, v.PolicyID, e.ID, meta.Page{Limit: 20})
			if err != nil {
				return err
			}
			v.Execs = append(v.Execs, retentionExecView{RetentionExecution: e, Tasks: tasks})
		}
	}
	u.render(c, http.StatusOK, "project_retention", "project.title", v)
	return nil
}

func ruleView(r retention.Rule) retentionRuleView {
	v := retentionRuleView{ID: r.ID, Disabled: r.Disabled, Template: templateKeys[r.Template]}
	if p, ok := r.Params[r.Template]; ok {
		v.Param = fmt.Sprint(p)
	}
	for _, s := range r.ScopeSelectors[retention.ScopeRepository] {
		v.Repos = append(v.Repos, s.Decoration+" "+s.Pattern)
	}
	for _, s := range r.TagSelectors {
		v.Tags = append(v.Tags, tagSelectorView{Selector: s.Decoration + " " + s.Pattern,
			Untagged: strings.Contains(s.Extras, `"untagged":true`)})
	}
	sort.Strings(v.Repos)
	return v
}

// runRetention is POST /projects/{project}/retention/run: a dry run
// (dry_run=1) or a real run of the project's policy.
func (u *UI) runRetention(c *call) error {
	if u.d.Retention == nil {
		return errNotFound
	}
	proj, err := u.loadProject(c, access.ResourceTagRetention, access.ActionOperate)
	if err != nil {
		return err
	}
	id, err := u.d.Retention.ProjectPolicyID(c.r.Context(), proj.ID)
	if err != nil {
		return err
	}
	if id == 0 {
		return fmt.Errorf("%w: project %s has no retention policy", errBadForm, proj.Name)
	}
	if _, err := u.d.Retention.Trigger(c.r.Context(), c.actor(u), id, c.r.PostForm.Get("dry_run") == "1"); err != nil {
		if errors.Is(err, retention.ErrQueue) {
			return fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
		}
		return err
	}
	return redirect(c, "/projects/"+proj.Name+"/retention?triggered=1")
}
