package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
)

// Errors returned by Service besides ErrInvalid and meta's not-found
// errors.
var (
	// ErrTooManyArtifacts: a repository holds more artifacts than one run
	// evaluates (MaxCandidates); its task fails and nothing of it is
	// deleted.
	ErrTooManyArtifacts = errors.New("repository holds too many artifacts for one retention run")
	// ErrDeleteFailed: some deletions of a task failed (its log says
	// which and why); the others went.
	ErrDeleteFailed = errors.New("retention deletions failed")
	// ErrQueue: the run could not be queued.
	ErrQueue = errors.New("retention run could not be queued")
)

// Bounds on one run.
const (
	// MaxCandidates is how many artifacts of one repository a run
	// evaluates; a larger repository's task fails (deciding on part of it
	// could delete what the whole would keep).
	MaxCandidates = 50_000
	// MaxExecutions is how many executions of a policy are kept (with
	// their tasks and logs); older ones are deleted as new ones start.
	MaxExecutions = 100
	// MaxRepositories is how many repositories of a project one run visits.
	MaxRepositories = 10_000
	// pageSize is the batch in which repositories and artifacts are read.
	pageSize = 500
)

// Triggers of an execution (Harbor's).
const (
	TriggerManual   = "MANUAL"
	TriggerSchedule = "SCHEDULE"
)

// RunJob is the job kind of one execution (internal/app registers it).
const RunJob = "retention_run"

// RunArgs are RunJob's arguments.
type RunArgs struct {
	ExecutionID int64  `json:"execution_id"`
	Operator    string `json:"operator,omitempty"`
}

// policyStore is meta.Retention's policy half.
type policyStore interface {
	CreatePolicy(ctx context.Context, projectID int64, policy []byte, cron string, next time.Time) (meta.RetentionPolicy, error)
	GetPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error)
	GetProjectPolicy(ctx context.Context, projectID int64) (meta.RetentionPolicy, error)
	UpdatePolicy(ctx context.Context, id int64, policy []byte, cron string, next time.Time) error
	DeletePolicy(ctx context.Context, id int64) error
	TakeDuePolicies(ctx context.Context, limit int, next func(cron string, after time.Time) time.Time) ([]meta.RetentionPolicy, error)
}

// runStore is meta.Retention's execution half.
type runStore interface {
	CreateExecution(ctx context.Context, policyID int64, trigger string, dryRun bool) (meta.RetentionExecution, error)
	GetExecution(ctx context.Context, id int64) (meta.RetentionExecution, error)
	ListExecutions(ctx context.Context, policyID int64, pg meta.Page) ([]meta.RetentionExecution, int, error)
	FinishExecution(ctx context.Context, id int64, status string) (bool, error)
	FailStaleExecutions(ctx context.Context, before time.Time) (int, error)
	PruneExecutions(ctx context.Context, policyID int64, keep int) (int, error)
	CreateTask(ctx context.Context, execID int64, repo string) (meta.RetentionTask, error)
	FinishTask(ctx context.Context, id int64, status string, total, retained int, log string) error
	ListTasks(ctx context.Context, execID int64, pg meta.Page) ([]meta.RetentionTask, int, error)
	GetTask(ctx context.Context, id int64) (meta.RetentionTask, error)
}

// Store is meta.Retention as the Service uses it.
type Store interface {
	policyStore
	runStore
}

// projectReader is meta.Projects as the Service uses it.
type projectReader interface {
	GetProject(ctx context.Context, id int64) (meta.Project, error)
}

// repoLister is meta.Repositories as the Service uses it.
type repoLister interface {
	ListProjectRepositories(ctx context.Context, project, name string, pg meta.Page) ([]meta.RepositoryInfo, int, error)
}

// artifactLister is meta.Manifests as the Service uses it (reads only).
type artifactLister interface {
	ListArtifacts(ctx context.Context, repo string, pg meta.Page) ([]meta.Artifact, int, error)
}

// Deleter is repository.Service as the Service uses it: deletions that
// are audited and drop cache entries, and whose blobs go to garbage
// collection review.
type Deleter interface {
	DeleteArtifact(ctx context.Context, a project.Actor, projectID int64, repo string, d digest.Digest) error
}

// Immutability reads the tag immutability rules of a repository's
// project (internal/immutable through an adapter): protected reports
// whether a tag of repo is immutable.
type Immutability interface {
	Protector(ctx context.Context, repo string) (protected func(tag string) bool, err error)
}

// pullReader is meta.Pulls as the Service uses it: each artifact's last
// pull (by manifest id).
type pullReader interface {
	ArtifactPulls(ctx context.Context, manifestIDs []int64) (map[int64]meta.PullStat, error)
}

// labelReader is meta.Labels as the Service uses it: each artifact's
// labels (by manifest id).
type labelReader interface {
	ArtifactLabels(ctx context.Context, manifestIDs []int64) (map[int64][]meta.Label, error)
}

// ReadOnly reports Harbor's read_only setting (settings.Service): while it
// is on, scheduled runs wait and real runs delete nothing.
type ReadOnly interface {
	ReadOnly(ctx context.Context) (bool, error)
}

// ErrReadOnly: a real run found the registry in read-only mode.
var ErrReadOnly = errors.New("the registry is in read-only mode: retention deletes nothing")

// Enqueuer queues a job (jobs.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, args any) error
}

// Deps are what the Service needs; internal/app fills them.
type Deps struct {
	Store     Store
	Projects  projectReader
	Repos     repoLister
	Artifacts artifactLister
	Deleter   Deleter
	// Immutable, ReadOnly, Pulls and Labels are optional (without Pulls
	// nothing was ever pulled; without Labels nothing carries a label).
	Immutable Immutability
	ReadOnly  ReadOnly
	Pulls     pullReader
	Labels    labelReader
	Audit     project.Recorder
	Now       func() time.Time
	// Accessories (optional) finds the referrers and cosign accessories
	// deleted with an artifact; without it an artifact a referrer names
	// fails to delete (DEL FAILED).
	Accessories accessoryReader
	// Events (optional) receives one TAG_RETENTION event per real run.
	Events eventAppender
}

// Service manages policies and runs them.
type Service struct {
	d     Deps
	queue Enqueuer
	log   *slog.Logger
}

// New returns a Service; SetQueue must be called before Trigger.
func New(d Deps, log *slog.Logger) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d, log: log}
}

// SetQueue sets the job queue runs are queued on (it is opened after the
// services, before the server serves).
func (s *Service) SetQueue(q Enqueuer) { s.queue = q }

// Metadata returns the templates and selectors policies may use.
func (s *Service) Metadata() Metadata { return Describe() }

func (s *Service) nextRun(cron string, after time.Time) time.Time {
	if cron == "" {
		return time.Time{}
	}
	sch, err := ParseCron(cron)
	if err != nil {
		return time.Time{}
	}
	return sch.Next(after.UTC())
}

// Create stores p as its project's policy (p.Scope.Ref names the project,
// which the caller has checked). Invalid: ErrInvalid; the project has one:
// meta.ErrRetentionExists.
func (s *Service) Create(ctx context.Context, a project.Actor, p Policy) (Policy, error) {
	p, err := Normalize(p)
	if err != nil {
		return Policy{}, err
	}
	p.ID = 0
	body, err := json.Marshal(p)
	if err != nil {
		return Policy{}, fmt.Errorf("encode policy: %w", err)
	}
	row, err := s.d.Store.CreatePolicy(ctx, p.ProjectID(), body, p.Cron(), s.nextRun(p.Cron(), s.d.Now()))
	if err != nil {
		return Policy{}, err
	}
	p.ID = row.ID
	s.record(a, p.ProjectID(), "create", fmt.Sprintf("retention policy %d", row.ID))
	return p, nil
}

// Get returns policy id. Missing: meta.ErrRetentionNotFound.
func (s *Service) Get(ctx context.Context, id int64) (Policy, error) {
	row, err := s.d.Store.GetPolicy(ctx, id)
	if err != nil {
		return Policy{}, err
	}
	return decodePolicy(row)
}

func decodePolicy(row meta.RetentionPolicy) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(row.Policy, &p); err != nil {
		return Policy{}, fmt.Errorf("retention policy %d: stored policy: %w", row.ID, err)
	}
	p.ID = row.ID
	p.Scope = &Scope{Level: LevelProject, Ref: row.ProjectID}
	return p, nil
}

// ProjectPolicyID returns the id of project projectID's policy, 0 when it
// has none.
func (s *Service) ProjectPolicyID(ctx context.Context, projectID int64) (int64, error) {
	row, err := s.d.Store.GetProjectPolicy(ctx, projectID)
	if errors.Is(err, meta.ErrRetentionNotFound) {
		return 0, nil
	}
	return row.ID, err
}

// Update replaces policy id with p; p may not move it to another project
// (ErrInvalid). Missing: meta.ErrRetentionNotFound.
func (s *Service) Update(ctx context.Context, a project.Actor, id int64, p Policy) (Policy, error) {
	old, err := s.d.Store.GetPolicy(ctx, id)
	if err != nil {
		return Policy{}, err
	}
	if p.Scope == nil {
		p.Scope = &Scope{Level: LevelProject, Ref: old.ProjectID}
	}
	p, err = Normalize(p)
	if err != nil {
		return Policy{}, err
	}
	if p.ProjectID() != old.ProjectID {
		return Policy{}, invalid("scope.ref is %d: a policy stays with its project (%d)", p.ProjectID(), old.ProjectID)
	}
	p.ID = 0
	body, err := json.Marshal(p)
	if err != nil {
		return Policy{}, fmt.Errorf("encode policy: %w", err)
	}
	if err := s.d.Store.UpdatePolicy(ctx, id, body, p.Cron(), s.nextRun(p.Cron(), s.d.Now())); err != nil {
		return Policy{}, err
	}
	p.ID = id
	s.record(a, old.ProjectID, "update", fmt.Sprintf("retention policy %d", id))
	return p, nil
}

// Delete deletes policy id with its history. Missing:
// meta.ErrRetentionNotFound.
func (s *Service) Delete(ctx context.Context, a project.Actor, id int64) error {
	old, err := s.d.Store.GetPolicy(ctx, id)
	if err != nil {
		return err
	}
	if err := s.d.Store.DeletePolicy(ctx, id); err != nil {
		return err
	}
	s.record(a, old.ProjectID, "delete", fmt.Sprintf("retention policy %d", id))
	return nil
}

// Trigger records an execution of policy id and queues it. Missing:
// meta.ErrRetentionNotFound; not queued: ErrQueue.
func (s *Service) Trigger(ctx context.Context, a project.Actor, id int64, dryRun bool) (meta.RetentionExecution, error) {
	if _, err := s.d.Store.GetPolicy(ctx, id); err != nil {
		return meta.RetentionExecution{}, err
	}
	return s.trigger(ctx, id, TriggerManual, dryRun, a.Username())
}

func (s *Service) trigger(ctx context.Context, id int64, trigger string, dryRun bool, operator string) (meta.RetentionExecution, error) {
	if s.queue == nil {
		return meta.RetentionExecution{}, fmt.Errorf("%w: job queue not ready", ErrQueue)
	}
	e, err := s.d.Store.CreateExecution(ctx, id, trigger, dryRun)
	if err != nil {
		return meta.RetentionExecution{}, err
	}
	if _, err := s.d.Store.PruneExecutions(ctx, id, MaxExecutions); err != nil {
		s.log.WarnContext(ctx, "prune retention executions", "policy_id", id, "err", err)
	}
	if err := s.queue.Enqueue(ctx, RunJob, RunArgs{ExecutionID: e.ID, Operator: operator}); err != nil {
		_, _ = s.d.Store.FinishExecution(context.WithoutCancel(ctx), e.ID, meta.RetentionError)
		return meta.RetentionExecution{}, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return e, nil
}

// StaleAfter is how long after its start an execution still Running is
// taken for dead (its replica died; the job runs at most RunTimeout) and
// ended as Error.
const StaleAfter = 2 * RunTimeout

// RunTimeout bounds one run (the job's timeout).
const RunTimeout = time.Hour

// RunDue queues a run of every policy whose schedule is due (at most 100
// per call; the scheduler calls again a minute later). Each scheduled run
// is claimed by exactly one replica. It also ends executions whose worker
// died (StaleAfter).
func (s *Service) RunDue(ctx context.Context) error {
	n, err := s.d.Store.FailStaleExecutions(ctx, s.d.Now().Add(-StaleAfter))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.WarnContext(ctx, "retention executions ended as stale", "count", n)
	}
	if err := s.writable(ctx); err != nil {
		return nil // the schedule waits: due runs are claimed once writes are allowed again
	}
	due, err := s.d.Store.TakeDuePolicies(ctx, 100, s.nextRun)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range due {
		if _, err := s.trigger(ctx, p.ID, TriggerSchedule, false, "retention"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Execution returns execution eid of policy id. Missing (or of another
// policy): meta.ErrRetentionExecutionNotFound.
func (s *Service) Execution(ctx context.Context, id, eid int64) (meta.RetentionExecution, error) {
	e, err := s.d.Store.GetExecution(ctx, eid)
	if err != nil {
		return meta.RetentionExecution{}, err
	}
	if e.PolicyID != id {
		return meta.RetentionExecution{}, fmt.Errorf("retention execution %d: %w", eid, meta.ErrRetentionExecutionNotFound)
	}
	return e, nil
}

// Executions returns one page of policy id's executions, newest first.
func (s *Service) Executions(ctx context.Context, id int64, pg meta.Page) ([]meta.RetentionExecution, int, error) {
	return s.d.Store.ListExecutions(ctx, id, pg)
}

// Stop stops execution eid of policy id: no further repository is
// started and no further artifact deleted. Stopping one that has ended
// changes nothing.
func (s *Service) Stop(ctx context.Context, id, eid int64) error {
	if _, err := s.Execution(ctx, id, eid); err != nil {
		return err
	}
	_, err := s.d.Store.FinishExecution(ctx, eid, meta.RetentionStopped)
	return err
}

// Tasks returns one page of execution eid's tasks (eid of policy id).
func (s *Service) Tasks(ctx context.Context, id, eid int64, pg meta.Page) ([]meta.RetentionTask, int, error) {
	if _, err := s.Execution(ctx, id, eid); err != nil {
		return nil, 0, err
	}
	return s.d.Store.ListTasks(ctx, eid, pg)
}

// Task returns task tid of execution eid of policy id. Missing (or of
// another execution): meta.ErrRetentionTaskNotFound.
func (s *Service) Task(ctx context.Context, id, eid, tid int64) (meta.RetentionTask, error) {
	if _, err := s.Execution(ctx, id, eid); err != nil {
		return meta.RetentionTask{}, err
	}
	t, err := s.d.Store.GetTask(ctx, tid)
	if err != nil {
		return meta.RetentionTask{}, err
	}
	if t.ExecutionID != eid {
		return meta.RetentionTask{}, fmt.Errorf("retention task %d: %w", tid, meta.ErrRetentionTaskNotFound)
	}
	return t, nil
}

// writable returns ErrReadOnly while the registry is read-only.
func (s *Service) writable(ctx context.Context) error {
	if s.d.ReadOnly == nil {
		return nil
	}
	ro, err := s.d.ReadOnly.ReadOnly(ctx)
	if err != nil {
		return err
	}
	if ro {
		return ErrReadOnly
	}
	return nil
}

func (s *Service) record(a project.Actor, projectID int64, op, resource string) {
	if s.d.Audit == nil {
		return
	}
	s.d.Audit.Record(meta.AuditLog{ProjectID: projectID, Username: a.Username(), Operation: op,
		ResourceType: "retention", Resource: resource, ClientIP: a.ClientIP, Result: meta.AuditSuccess})
}

// jobActor is who a run's deletions are recorded as.
func jobActor(operator string) project.Actor {
	if operator == "" {
		operator = "retention"
	}
	return project.Actor{Principal: access.Principal{Kind: access.KindUser, Name: operator}}
}
