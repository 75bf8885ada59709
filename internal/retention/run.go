package retention

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
)

// Run works execution args.ExecutionID (the RunJob body): for every
// repository of the policy's project that an enabled rule selects, one
// task that evaluates its artifacts and, unless the execution is a dry
// run, deletes what no rule retains. A dry run and a real run on the same
// data decide the same (Evaluate is pure; the clock is the execution's
// start). A stopped execution starts no further repository and deletes
// nothing more. Run is not retried: an execution runs once.
func (s *Service) Run(ctx context.Context, args RunArgs) error {
	e, err := s.d.Store.GetExecution(ctx, args.ExecutionID)
	if err != nil {
		return err
	}
	if e.Status != meta.RetentionRunning {
		return nil // stopped before it started
	}
	var (
		proj meta.Project
		rep  report
	)
	status, err := s.run(ctx, e, args.Operator, &proj, &rep)
	if err != nil {
		status = meta.RetentionError
		s.log.ErrorContext(ctx, "retention run failed", "execution_id", e.ID, "policy_id", e.PolicyID, "err", err)
	}
	if _, ferr := s.d.Store.FinishExecution(context.WithoutCancel(ctx), e.ID, status); ferr != nil {
		return errors.Join(err, ferr)
	}
	if proj.ID != 0 {
		s.emit(context.WithoutCancel(ctx), e, proj, args.Operator, status, &rep)
	}
	return nil
}

// run works execution e; it fills *proj once it knows the project, and
// rep with what it decided and deleted.
func (s *Service) run(ctx context.Context, e meta.RetentionExecution, operator string, proj *meta.Project, rep *report) (string, error) {
	p, err := s.Get(ctx, e.PolicyID)
	if err != nil {
		return "", err
	}
	if *proj, err = s.d.Projects.GetProject(ctx, p.ProjectID()); err != nil {
		return "", err
	}
	rep.setRules(p.Rules)
	status := meta.RetentionSuccess
	for offset := 0; offset < MaxRepositories; offset += pageSize {
		repos, _, err := s.d.Repos.ListProjectRepositories(ctx, proj.Name, "", meta.Page{Offset: offset, Limit: min(pageSize, MaxRepositories-offset)})
		if err != nil {
			return "", err
		}
		for _, r := range repos {
			rules := RulesFor(p.Rules, strings.TrimPrefix(r.Name, proj.Name+"/"))
			if len(rules) == 0 {
				continue
			}
			if stopped, err := s.stopped(ctx, e.ID); err != nil || stopped {
				return meta.RetentionStopped, err
			}
			if !e.DryRun {
				if err := s.writable(ctx); err != nil {
					return "", err
				}
			}
			if err := s.runTask(ctx, e, *proj, r.Name, rules, operator, rep); err != nil {
				if ctx.Err() != nil {
					return "", err
				}
				status = meta.RetentionError
			}
		}
		if len(repos) < pageSize {
			break
		}
	}
	return status, nil
}

func (s *Service) stopped(ctx context.Context, id int64) (bool, error) {
	e, err := s.d.Store.GetExecution(ctx, id)
	if err != nil {
		return false, err
	}
	return e.Status == meta.RetentionStopped, nil
}

// runTask evaluates and (unless a dry run) prunes one repository as one
// task; its error is also recorded in the task.
func (s *Service) runTask(ctx context.Context, e meta.RetentionExecution, proj meta.Project, repo string, rules []Rule, operator string, rep *report) error {
	task, err := s.d.Store.CreateTask(ctx, e.ID, repo)
	if err != nil {
		return err
	}
	var log strings.Builder
	total, retained, err := s.prune(ctx, e, proj, repo, rules, operator, &log, rep)
	rep.Total, rep.Retained = rep.Total+total, rep.Retained+retained
	status := meta.RetentionSuccess
	if err != nil {
		status = meta.RetentionError
		fmt.Fprintf(&log, "error: %s\n", shown(err))
		s.log.WarnContext(ctx, "retention task failed", "execution_id", e.ID, "repository", repo, "err", err)
	}
	if ferr := s.d.Store.FinishTask(context.WithoutCancel(ctx), task.ID, status, total, retained, log.String()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// prune decides repo's artifacts, writes the decision table to log and,
// unless e is a dry run, deletes what goes, each artifact with its
// referrers and cosign accessories (accessoriesOf; the log says how many).
func (s *Service) prune(ctx context.Context, e meta.RetentionExecution, proj meta.Project, repo string, rules []Rule, operator string, log *strings.Builder, rep *report) (total, retained int, err error) {
	cands, err := s.candidates(ctx, repo)
	if err != nil {
		return 0, 0, err
	}
	decisions := Evaluate(rules, cands, e.StartedAt)
	for _, d := range decisions {
		if d.Retain {
			retained++
		}
	}
	fmt.Fprintf(log, "%-71s | %-40s | %-20s | %-20s | %s\n", "Digest", "Tags", "PushedTime", "PulledTime", "Retention")
	var failed []error
	deleted := 0
	for _, d := range decisions {
		action := "RETAIN (" + strings.Join(d.Why, ", ") + ")"
		if !d.Retain {
			action = "DEL"
			acc, err := s.accessoriesOf(ctx, repo, d.Digest)
			if len(acc) > 0 {
				action = fmt.Sprintf("DEL (with %d referrers and accessories)", len(acc))
			}
			if !e.DryRun {
				if deleted%100 == 0 {
					if stopped, err := s.stopped(ctx, e.ID); err != nil || stopped {
						fmt.Fprintf(log, "stopped: %d of %d artifacts deleted\n", deleted, len(decisions)-retained)
						return len(decisions), len(decisions) - deleted, err
					}
				}
				if err == nil {
					err = s.deleteWith(ctx, jobActor(operator), proj.ID, repo, acc, d.Digest)
				}
				switch {
				case err == nil:
					deleted++
					rep.Deleted++
					rep.Accessories += len(acc)
				default:
					action = "DEL FAILED: " + shown(err)
					failed = append(failed, fmt.Errorf("delete %s@%s: %w", repo, d.Digest, err))
				}
				rep.add(inProject(proj.Name, repo), d, err == nil)
			} else if err != nil {
				action = "DEL FAILED: " + shown(err)
			}
		}
		fmt.Fprintf(log, "%-71s | %-40s | %-20s | %-20s | %s\n", d.Digest, clipTags(d.Tags), stamp(d.PushedAt), stamp(d.PulledAt), action)
	}
	fmt.Fprintf(log, "total %d, retained %d, deleted %d", len(decisions), retained, len(decisions)-retained)
	if e.DryRun {
		log.WriteString(" (dry run: nothing deleted)")
	}
	log.WriteString("\n")
	if e.DryRun {
		return len(decisions), retained, nil
	}
	// What remains: a failed deletion leaves its artifact.
	if len(failed) > 0 {
		s.log.WarnContext(ctx, "retention deletions failed", "execution_id", e.ID, "repository", repo, "err", errors.Join(failed...))
		return len(decisions), len(decisions) - deleted, fmt.Errorf("%w: %d of %d (see the DEL FAILED lines)", ErrDeleteFailed, len(failed), len(decisions)-retained)
	}
	return len(decisions), len(decisions) - deleted, nil
}

// deleteWith deletes artifact d of repo after acc, its referrers and
// accessories (accessoriesOf's order); one already gone counts as
// deleted. The first failure stops it: d stays, and so do the accessories
// not yet reached.
func (s *Service) deleteWith(ctx context.Context, a project.Actor, projectID int64, repo string, acc []digest.Digest, d digest.Digest) error {
	for _, x := range append(acc, d) {
		if err := s.d.Deleter.DeleteArtifact(ctx, a, projectID, repo, x); err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
			if x != d {
				return fmt.Errorf("its referrer or accessory %s: %w", x, err)
			}
			return err
		}
	}
	return nil
}

// candidates reads every top-level artifact of repo (accessories
// aside), in pages, up to MaxCandidates, with its last pull, labels and
// whether an immutability rule protects it.
func (s *Service) candidates(ctx context.Context, repo string) ([]Candidate, error) {
	protected := func(string) bool { return false }
	if s.d.Immutable != nil {
		p, err := s.d.Immutable.Protector(ctx, repo)
		if err != nil {
			return nil, err
		}
		protected = p
	}
	var out []Candidate
	for offset := 0; ; offset += pageSize {
		arts, total, err := s.d.Artifacts.ListArtifacts(ctx, repo, meta.Page{Offset: offset, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		if total > MaxCandidates {
			return nil, fmt.Errorf("%w: %s holds %d artifacts, at most %d are evaluated at once", ErrTooManyArtifacts, repo, total, MaxCandidates)
		}
		page, err := s.page(ctx, arts, protected)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(arts) < pageSize || offset+len(arts) >= MaxCandidates {
			return out, nil
		}
	}
}

// page turns one page of artifacts into candidates: pushed when the
// manifest or any of its tags was last pushed.
func (s *Service) page(ctx context.Context, arts []meta.Artifact, protected func(string) bool) ([]Candidate, error) {
	ids := make([]int64, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	var (
		pulls  map[int64]meta.PullStat
		labels map[int64][]meta.Label
		err    error
	)
	if s.d.Pulls != nil && len(ids) > 0 {
		if pulls, err = s.d.Pulls.ArtifactPulls(ctx, ids); err != nil {
			return nil, err
		}
	}
	if s.d.Labels != nil && len(ids) > 0 {
		if labels, err = s.d.Labels.ArtifactLabels(ctx, ids); err != nil {
			return nil, err
		}
	}
	out := make([]Candidate, 0, len(arts))
	for _, a := range arts {
		if accessory(a) {
			continue
		}
		c := Candidate{Digest: a.Digest, PushedAt: a.PushedAt, PulledAt: pulls[a.ID].PulledAt}
		for _, t := range a.Tags {
			c.Tags = append(c.Tags, t.Name)
			if t.PushedAt.After(c.PushedAt) {
				c.PushedAt = t.PushedAt
			}
			if protected(t.Name) {
				c.Immutable = true
			}
		}
		for _, l := range labels[a.ID] {
			c.Labels = append(c.Labels, l.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// shown is err as a task log shows it to the project's administrators:
// the rule that refused, or a pointer to the server log (database or
// storage details stay there).
func shown(err error) string {
	for _, known := range []error{registry.ErrManifestReferenced, immutable.ErrImmutable, ErrTooManyArtifacts, ErrReadOnly, ErrDeleteFailed, ErrTooManyAccessories} {
		if errors.Is(err, known) {
			return err.Error()
		}
	}
	if errors.Is(err, meta.ErrUnavailable) {
		return "the database is unavailable; run again later"
	}
	return "internal error (details in the server log)"
}

// accessoryTag is cosign's tag scheme for an artifact's signature,
// attestation or SBOM: sha256-<hex>.sig|.att|.sbom.
var accessoryTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}\.(sig|att|sbom)$`)

// accessory reports whether a is another artifact's accessory (every tag
// in cosign's scheme). As in Harbor, accessories are no candidates: a rule
// counting "the most recent N" counts images, not their signatures.
func accessory(a meta.Artifact) bool {
	if len(a.Tags) == 0 {
		return false
	}
	for _, t := range a.Tags {
		if !accessoryTag.MatchString(t.Name) {
			return false
		}
	}
	return true
}

func clipTags(tags []string) string {
	s := strings.Join(tags, ",")
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
