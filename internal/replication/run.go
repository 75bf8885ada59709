package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/meta"
)

// Job kinds (internal/app registers them).
const (
	JobScan     = "replication_scan"
	JobTask     = "replication_task"
	JobSchedule = "replication_schedule"
	// JobReclaim takes back the tasks of replicas that died and queues
	// them again.
	JobReclaim = "replication_reclaim"
)

// Limits of one execution.
const (
	maxRepositories = 10_000
	maxTagsPerRepo  = 10_000
	// MaxTaskAttempts bounds the attempts of one task (River retries a
	// failed attempt with backoff).
	MaxTaskAttempts = 3
	// TaskTimeout bounds one attempt.
	TaskTimeout = 30 * time.Minute
	// stopPoll is how often a running task checks for a stop request.
	stopPoll = 500 * time.Millisecond
	// heartbeatEvery is how often a running task renews its lease;
	// staleAfter is how long a lease lasts without renewal before the
	// task is taken back (its replica died) and queued again.
	heartbeatEvery = 3 * time.Second
	staleAfter     = 20 * time.Second
)

// ErrNotRunning: the execution has finished already.
var ErrNotRunning = errors.New("execution is not running")

// ScanArgs are the arguments of a JobScan job.
type ScanArgs struct {
	ExecutionID int64 `json:"execution_id"`
}

// TaskArgs are the arguments of a JobTask job: one artifact to copy or
// delete.
type TaskArgs struct {
	TaskID      int64    `json:"task_id"`
	ExecutionID int64    `json:"execution_id"`
	PolicyID    int64    `json:"policy_id"`
	Src         string   `json:"src"`
	Dst         string   `json:"dst"`
	Digest      string   `json:"digest"`
	Tags        []string `json:"tags,omitempty"`
	Delete      bool     `json:"delete,omitempty"`
}

// Execute starts an execution of policy id (trigger: manual, scheduled,
// event_based) and queues its scan.
func (s *Service) Execute(ctx context.Context, policyID int64, trigger string) (meta.ReplicationExecution, error) {
	p, err := s.GetPolicy(ctx, policyID)
	if err != nil {
		return meta.ReplicationExecution{}, err
	}
	if !p.Enabled && trigger != TriggerManual {
		return meta.ReplicationExecution{}, invalidf("policy %d is disabled", policyID)
	}
	e, err := s.st.Policies.CreateExecution(ctx, policyID, trigger)
	if err != nil {
		return meta.ReplicationExecution{}, err
	}
	if err := s.opts.Enqueue(ctx, JobScan, ScanArgs{ExecutionID: e.ID}); err != nil {
		_ = s.st.Policies.FinishExecution(context.WithoutCancel(ctx), e.ID, meta.ExecFailed, "could not queue: "+err.Error())
		return meta.ReplicationExecution{}, err
	}
	return e, nil
}

// Stop asks execution id to stop: pending tasks stop at once, running
// ones within a second.
func (s *Service) Stop(ctx context.Context, id int64) error {
	e, err := s.st.Policies.GetExecution(ctx, id)
	if err != nil {
		return err
	}
	if e.Status != meta.ExecRunning {
		return fmt.Errorf("execution %d: %w", id, ErrNotRunning)
	}
	if err := s.st.Policies.RequestStop(ctx, id); err != nil {
		return err
	}
	return s.maybeFinish(ctx, id)
}

// GetExecution, ListExecutions, GetTask and ListTasks read the history.
func (s *Service) GetExecution(ctx context.Context, id int64) (meta.ReplicationExecution, error) {
	return s.st.Policies.GetExecution(ctx, id)
}

// ListExecutions lists executions of a policy (all when 0), newest first.
func (s *Service) ListExecutions(ctx context.Context, policyID int64, status string, pg meta.Page) ([]meta.ReplicationExecution, int, error) {
	return s.st.Policies.ListExecutions(ctx, policyID, status, pg)
}

// ListTasks lists the tasks of execution id.
func (s *Service) ListTasks(ctx context.Context, executionID int64, status string, pg meta.Page) ([]meta.ReplicationTask, int, error) {
	return s.st.Policies.ListTasks(ctx, executionID, status, pg)
}

// GetTask returns task id of execution executionID.
func (s *Service) GetTask(ctx context.Context, executionID, id int64) (meta.ReplicationTask, error) {
	t, err := s.st.Policies.GetTask(ctx, id)
	if err == nil && t.ExecutionID != executionID {
		return meta.ReplicationTask{}, fmt.Errorf("task %d: %w", id, meta.ErrTaskNotFound)
	}
	return t, err
}

// maybeFinish closes execution id once no task is pending or running.
func (s *Service) maybeFinish(ctx context.Context, id int64) error {
	e, err := s.st.Policies.GetExecution(ctx, id)
	if err != nil || e.Status != meta.ExecRunning || e.InProgress > 0 {
		return err
	}
	status := meta.ExecSucceed
	text := fmt.Sprintf("%d succeeded, %d failed, %d stopped of %d", e.Succeed, e.Failed, e.Stopped, e.Total)
	switch {
	case e.StopRequested:
		status = meta.ExecStopped
	case e.Failed > 0:
		status = meta.ExecFailed
	}
	if err := s.st.Policies.FinishExecution(ctx, id, status, text); err != nil {
		return err
	}
	s.opts.Metrics.execution(status, time.Since(e.StartTime))
	s.log.InfoContext(ctx, "replication execution finished", "execution", id, "policy", e.PolicyID, "status", status,
		"tasks", e.Total, "bytes", e.Bytes)
	return nil
}

// artifact is one source artifact: a digest and the tags naming it.
type artifact struct {
	repo   string
	digest string
	tags   []string
}

// RunScan is the JobScan job: it lists the source's artifacts that pass
// the policy's filters and queues one task per artifact.
func (s *Service) RunScan(ctx context.Context, a ScanArgs) error {
	e, err := s.st.Policies.GetExecution(ctx, a.ExecutionID)
	if errors.Is(err, meta.ErrExecutionNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.Status != meta.ExecRunning || e.Total > 0 { // finished, or scanned before a crash
		return s.maybeFinish(ctx, e.ID)
	}
	p, err := s.GetPolicy(ctx, e.PolicyID)
	if err != nil {
		return s.failExecution(ctx, e.ID, err)
	}
	arts, err := s.scan(ctx, p)
	if err != nil {
		return s.failExecution(ctx, e.ID, err)
	}
	var queued []TaskArgs
	for _, art := range arts {
		dst := destRepo(p, art.repo)
		args := TaskArgs{ExecutionID: e.ID, PolicyID: p.ID, Src: art.repo, Dst: dst, Digest: art.digest, Tags: art.tags}
		t, err := s.st.Policies.CreateTask(ctx, meta.ReplicationTask{ExecutionID: e.ID, ResourceType: "artifact",
			Operation: "copy", SrcResource: art.repo, DstResource: dst, Reference: referenceText(art.digest, art.tags),
			Args: args.json()})
		if err != nil {
			return s.failExecution(ctx, e.ID, err)
		}
		args.TaskID = t.ID
		queued = append(queued, args)
	}
	return s.queueTasks(ctx, e.ID, queued)
}

func (s *Service) queueTasks(ctx context.Context, executionID int64, tasks []TaskArgs) error {
	for _, t := range tasks {
		if err := s.opts.Enqueue(ctx, JobTask, t); err != nil {
			_ = s.st.Policies.FinishTask(ctx, t.TaskID, "", meta.TaskFailed, 0, "could not queue: "+err.Error()+"\n")
		}
	}
	return s.maybeFinish(ctx, executionID)
}

// json is a's JSON without the task id (stored with the task, to queue
// it again).
func (a TaskArgs) json() string {
	a.TaskID = 0
	b, _ := json.Marshal(a)
	return string(b)
}

func referenceText(d string, tags []string) string {
	if len(tags) == 0 {
		return d
	}
	return d + " (" + strings.Join(tags, ",") + ")"
}

func (s *Service) failExecution(ctx context.Context, id int64, cause error) error {
	s.log.WarnContext(ctx, "replication execution failed", "execution", id, "err", cause)
	return s.st.Policies.FinishExecution(ctx, id, meta.ExecFailed, cause.Error())
}

// scan lists the artifacts of p's source that pass p's filters.
func (s *Service) scan(ctx context.Context, p Policy) ([]artifact, error) {
	f, err := compileFilters(p.Filters)
	if err != nil {
		return nil, err
	}
	src, err := s.sourceClient(ctx, p)
	if err != nil {
		return nil, err
	}
	if f.hasLabels() && src != nil && !labelsSupported(src.e.Type) {
		return nil, invalidf("label filters need a Berth or Harbor source: a %s registry keeps no labels", src.e.Type)
	}
	repos, err := s.sourceRepos(ctx, p, src)
	if err != nil {
		return nil, err
	}
	var out []artifact
	for _, repo := range repos {
		if !matchAll(f.names, repo) {
			continue
		}
		tags, resolve, err := s.sourceTags(ctx, src, repo)
		if err != nil {
			return nil, err
		}
		if len(tags) > maxTagsPerRepo {
			return nil, fmt.Errorf("repository %s has %d tags, more than %d", repo, len(tags), maxTagsPerRepo)
		}
		byDigest := map[string]*artifact{}
		var order []string
		for _, t := range tags {
			if accessoryTag.MatchString(t) || !matchAll(f.tags, t) {
				continue
			}
			d, err := resolve(t)
			if err != nil {
				return nil, err
			}
			if byDigest[d] == nil {
				byDigest[d] = &artifact{repo: repo, digest: d}
				order = append(order, d)
			}
			byDigest[d].tags = append(byDigest[d].tags, t)
		}
		for _, d := range order {
			if f.hasLabels() {
				labels, err := s.artifactLabels(ctx, src, repo, d)
				if err != nil {
					return nil, err
				}
				if !f.labelsPass(labels) {
					continue
				}
			}
			out = append(out, *byDigest[d])
		}
	}
	return out, nil
}

// sourceTags lists repo's tags on the source (src nil: local) and
// returns how to resolve one to its digest.
func (s *Service) sourceTags(ctx context.Context, src *client, repo string) ([]string, func(string) (string, error), error) {
	if src == nil {
		s.mu.Lock()
		local := s.tags
		s.mu.Unlock()
		if local == nil {
			return nil, nil, errors.New("replication: the local registry is not ready")
		}
		tags, err := local.ListTags(ctx, repo, "", maxTagsPerRepo+1)
		if err != nil {
			return nil, nil, err
		}
		return tags, func(t string) (string, error) {
			d, err := local.GetTag(ctx, repo, t)
			return d.String(), err
		}, nil
	}
	r, err := src.repo(repo)
	if err != nil {
		return nil, nil, err
	}
	tags, err := remote.List(r, src.options(ctx)...)
	if err != nil {
		return nil, nil, fmt.Errorf("list tags of %s: %w", repo, scrub(err, src.e.Secret))
	}
	return tags, func(t string) (string, error) {
		desc, err := remote.Head(r.Tag(t), src.options(ctx)...)
		if err != nil {
			return "", fmt.Errorf("head %s:%s: %w", repo, t, scrub(err, src.e.Secret))
		}
		return desc.Digest.String(), nil
	}, nil
}

// sourceRepos lists the source's repositories: the local store, the
// remote's catalog, or, when the remote has no catalog (Docker Hub), the
// literal repository the name filter names.
func (s *Service) sourceRepos(ctx context.Context, p Policy, src *client) ([]string, error) {
	if p.Push() {
		var out []string
		after := ""
		for len(out) < maxRepositories {
			page, err := s.st.Local.ListRepositories(ctx, after, 1000)
			if err != nil {
				return nil, err
			}
			out = append(out, page...)
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1]
		}
		return out, nil
	}
	if lit, ok := literalName(p.Filters); ok {
		return []string{lit}, nil
	}
	repos, err := remote.Catalog(ctx, src.reg, src.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("catalog of %s: %w", src.reg, scrub(err, src.e.Secret))
	}
	if len(repos) > maxRepositories {
		repos = repos[:maxRepositories]
	}
	if src.e.Type == TypeDockerHub {
		for i, r := range repos {
			repos[i] = strings.TrimPrefix(r, "library/")
		}
	}
	return repos, nil
}

// sourceClient is p's remote source (nil for a push: the local store
// is listed directly).
func (s *Service) sourceClient(ctx context.Context, p Policy) (*client, error) {
	if p.Push() {
		return nil, nil
	}
	e, err := s.endpoint(ctx, p.SrcRegistryID)
	if err != nil {
		return nil, err
	}
	return newClient(e, s.opts.Wrap)
}

// localClient reaches the local Berth with a token granting actions on
// repos.
func (s *Service) localClient(repos, actions []string, wrap func(http.RoundTripper) http.RoundTripper) (*client, error) {
	s.mu.Lock()
	base := s.local
	s.mu.Unlock()
	if base == "" || s.opts.Token == nil {
		return nil, errors.New("replication: the local registry is not ready")
	}
	// Its own certificate may not name 127.0.0.1: loopback to itself.
	c, err := newClient(Endpoint{Type: TypeBerth, URL: base, Insecure: strings.HasPrefix(base, "https:")}, chain(s.opts.Wrap, wrap))
	if err != nil {
		return nil, err
	}
	tok, err := s.opts.Token(repos, actions, TaskTimeout+time.Minute)
	if err != nil {
		return nil, err
	}
	c.base = &bearerHeader{next: c.base, host: c.reg.RegistryStr(), token: tok}
	return c, nil
}

func chain(a, b func(http.RoundTripper) http.RoundTripper) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		if b != nil {
			rt = b(rt)
		}
		if a != nil {
			rt = a(rt)
		}
		return rt
	}
}

// RunTask is the JobTask job: one attempt at one artifact.
func (s *Service) RunTask(ctx context.Context, a TaskArgs) error {
	runner := newRunner()
	ok, err := s.st.Policies.StartTask(ctx, a.TaskID, runner, time.Now().Add(-staleAfter))
	if err != nil {
		return err
	}
	if !ok { // finished, stopped, or its execution stopped
		return s.maybeFinish(ctx, a.ExecutionID)
	}
	t, err := s.st.Policies.GetTask(ctx, a.TaskID)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "replication task started", "task", a.TaskID, "execution", a.ExecutionID, "attempt", t.Attempts)
	p, err := s.GetPolicy(ctx, a.PolicyID)
	if err != nil {
		return s.endTask(ctx, a, runner, meta.TaskFailed, 0, "policy: "+err.Error()+"\n")
	}
	var bytes atomic.Int64
	var log strings.Builder
	logf := func(format string, args ...any) {
		if log.Len() < 32<<10 {
			fmt.Fprintf(&log, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", args...)
		}
	}
	logf("attempt %d: %s %s@%s -> %s", t.Attempts, map[bool]string{true: "delete", false: "copy"}[a.Delete], a.Src, a.Digest, a.Dst)

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resume := newResumePoints(t.Resume, func(state string) error {
		err := s.st.Policies.HeartbeatTask(cctx, a.TaskID, runner, state)
		if errors.Is(err, meta.ErrTaskLost) {
			cancel(errLost)
		}
		return err
	})
	go s.watch(cctx, a, runner, resume, cancel)

	start := time.Now()
	err = s.copyTask(cctx, p, a, resume, &bytes, logf)
	n := bytes.Load()
	s.opts.Metrics.bytes(n)
	switch {
	case errors.Is(context.Cause(cctx), errLost):
		s.log.WarnContext(ctx, "replication task taken back by another replica", "task", a.TaskID)
		return nil
	case errors.Is(context.Cause(cctx), errStopped):
		logf("stopped after %s", time.Since(start).Round(time.Millisecond))
		return s.endTask(ctx, a, runner, meta.TaskStopped, n, log.String())
	case err == nil:
		logf("done in %s, %d bytes sent", time.Since(start).Round(time.Millisecond), n)
		return s.endTask(ctx, a, runner, meta.TaskSucceed, n, log.String())
	case t.Attempts < MaxTaskAttempts && ctx.Err() == nil:
		logf("failed, will retry: %v", err)
		ferr := s.st.Policies.FinishTask(ctx, a.TaskID, runner, meta.TaskPending, n, log.String())
		if errors.Is(ferr, meta.ErrTaskLost) {
			return nil
		}
		if ferr != nil {
			return ferr
		}
		return fmt.Errorf("replication task %d: %w", a.TaskID, err) // River retries with backoff
	default:
		logf("failed: %v", err)
		return s.endTask(context.WithoutCancel(ctx), a, runner, meta.TaskFailed, n, log.String())
	}
}

// newRunner names one attempt at a task (its lease).
func newRunner() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var errLost = errors.New("replication task taken back")

var errStopped = errors.New("execution stopped")

// watch cancels ctx with errStopped when the execution is asked to stop,
// and renews the task's lease every heartbeatEvery (errLost when another
// replica has taken the task back).
func (s *Service) watch(ctx context.Context, a TaskArgs, runner string, resume *resumePoints, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	beat := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if stop, err := s.st.Policies.StopRequested(ctx, a.ExecutionID); err == nil && stop {
				cancel(errStopped)
				return
			}
			if time.Since(beat) < heartbeatEvery {
				continue
			}
			err := resume.flush(func(state string) error { return s.st.Policies.HeartbeatTask(ctx, a.TaskID, runner, state) })
			switch {
			case errors.Is(err, meta.ErrTaskLost):
				cancel(errLost)
				return
			case err == nil:
				beat = time.Now()
			}
		}
	}
}

func (s *Service) endTask(ctx context.Context, a TaskArgs, runner, status string, n int64, log string) error {
	err := s.st.Policies.FinishTask(ctx, a.TaskID, runner, status, n, log)
	if errors.Is(err, meta.ErrTaskLost) {
		return nil // another replica holds it now
	}
	if err != nil {
		return err
	}
	s.opts.Metrics.task(status)
	return s.maybeFinish(ctx, a.ExecutionID)
}

// copyTask copies (or deletes) one artifact between p's two ends.
func (s *Service) copyTask(ctx context.Context, p Policy, a TaskArgs, resume *resumePoints, bytes *atomic.Int64, logf func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, TaskTimeout)
	defer cancel()
	m := newMeter(bytes, p.Speed)
	var src, dst *client
	var err error
	if p.Push() {
		if src, err = s.localClient([]string{a.Src}, []string{"pull"}, nil); err != nil {
			return err
		}
		e, err := s.endpoint(ctx, p.DestRegistryID)
		if err != nil {
			return err
		}
		if dst, err = newClient(e, chain(s.opts.Wrap, m)); err != nil {
			return err
		}
		if !a.Delete {
			if err := s.ensureRemoteProject(ctx, p.DestRegistryID, dst, a.Dst); err != nil {
				logf("could not create the destination project: %v", err)
			}
		}
	} else {
		e, err := s.endpoint(ctx, p.SrcRegistryID)
		if err != nil {
			return err
		}
		if src, err = newClient(e, s.opts.Wrap); err != nil {
			return err
		}
		if dst, err = s.localClient([]string{a.Dst}, []string{"pull", "push", "delete"}, m); err != nil {
			return err
		}
		if s.opts.EnsureProject != nil && !a.Delete {
			if err := s.opts.EnsureProject(ctx, projectOf(a.Dst)); err != nil {
				return fmt.Errorf("destination project: %w", err)
			}
		}
	}
	c := &copier{src: src, dst: dst, override: p.Override, chunked: p.CopyByChunk, resume: resume, logf: logf}
	if a.Delete {
		if !p.ReplicateDelete {
			logf("delete not replicated: the policy does not replicate deletions")
			return nil
		}
		return c.deleteArtifact(ctx, a.Dst, a.Digest)
	}
	return c.copyArtifact(ctx, a.Src, a.Dst, a.Digest, a.Tags)
}

func projectOf(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

// RunSchedule is the JobSchedule job: it starts every scheduled policy
// that is due.
func (s *Service) RunSchedule(ctx context.Context) error {
	for range 100 {
		m, ok, err := s.st.Policies.TakeDuePolicy(ctx, nextRun)
		if err != nil || !ok {
			return err
		}
		p := policyFromMeta(m)
		if _, err := s.Execute(ctx, p.ID, TriggerScheduled); err != nil {
			s.log.WarnContext(ctx, "scheduled replication not started", "policy", p.ID, "err", err)
		}
	}
	return nil
}

// nextRun is p's next scheduled run after after (zero: none).
func nextRun(p meta.ReplicationPolicy, after time.Time) time.Time {
	sch, err := cronParser.Parse(p.TriggerCron)
	if err != nil || !p.Enabled || p.TriggerType != TriggerScheduled {
		return time.Time{}
	}
	return sch.Next(after)
}

// OnArtifactEvent starts event-based executions for a push (or delete)
// of repo@digest with tags: every enabled event-based push policy whose
// filters pass gets an execution with one task.
func (s *Service) OnArtifactEvent(ctx context.Context, deleted bool, repo, digest string, tags []string) error {
	for off := 0; off < 1000; off += 100 {
		ps, _, err := s.ListPolicies(ctx, "", meta.Page{Offset: off, Limit: 100})
		if err != nil {
			return err
		}
		for _, p := range ps {
			if !p.Enabled || p.TriggerType != TriggerEvent || !p.Push() {
				continue
			}
			if deleted && !p.ReplicateDelete {
				continue
			}
			f, err := compileFilters(p.Filters)
			if err != nil || !matchAll(f.names, repo) {
				continue
			}
			// Tags passing the tag filters; cosign's tags go with their
			// subject, whatever the filters.
			var keep []string
			for _, t := range tags {
				if accessoryTag.MatchString(t) || matchAll(f.tags, t) {
					keep = append(keep, t)
				}
			}
			if len(f.tags) > 0 && len(keep) == 0 && !deleted {
				continue
			}
			if f.hasLabels() {
				// A deleted artifact's labels are gone with it: a policy
				// filtering on labels does not propagate deletions (it
				// cannot tell whether it replicated the artifact).
				if deleted {
					continue
				}
				labels, err := s.artifactLabels(ctx, nil, repo, digest)
				if err != nil {
					return err
				}
				if !f.labelsPass(labels) {
					continue
				}
			}
			if err := s.eventExecution(ctx, p, deleted, repo, digest, keep); err != nil {
				return err
			}
		}
		if len(ps) < 100 {
			return nil
		}
	}
	return nil
}

func (s *Service) eventExecution(ctx context.Context, p Policy, deleted bool, repo, digest string, tags []string) error {
	e, err := s.st.Policies.CreateExecution(ctx, p.ID, TriggerEvent)
	if err != nil {
		return err
	}
	op := "copy"
	if deleted {
		op = "deletion"
	}
	dst := destRepo(p, repo)
	args := TaskArgs{ExecutionID: e.ID, PolicyID: p.ID, Src: repo, Dst: dst, Digest: digest, Tags: tags, Delete: deleted}
	t, err := s.st.Policies.CreateTask(ctx, meta.ReplicationTask{ExecutionID: e.ID, ResourceType: "artifact", Operation: op,
		SrcResource: repo, DstResource: dst, Reference: referenceText(digest, tags), Args: args.json()})
	if err != nil {
		return err
	}
	args.TaskID = t.ID
	return s.queueTasks(ctx, e.ID, []TaskArgs{args})
}

// RunReclaim is the JobReclaim job: running tasks whose lease has not been
// renewed for staleAfter (their replica died) are taken back and queued
// again, so that another replica finishes them.
func (s *Service) RunReclaim(ctx context.Context) error {
	tasks, err := s.st.Policies.ReclaimStaleTasks(ctx, time.Now().Add(-staleAfter), 100)
	for _, t := range tasks {
		var a TaskArgs
		if jerr := json.Unmarshal([]byte(t.Args), &a); jerr != nil || t.Args == "" {
			_ = s.st.Policies.FinishTask(ctx, t.ID, "", meta.TaskFailed, t.Bytes, "its replica died and it cannot be queued again\n")
			_ = s.maybeFinish(ctx, t.ExecutionID)
			continue
		}
		a.TaskID = t.ID
		s.log.WarnContext(ctx, "replication task of a replica that stopped answering queued again", "task", t.ID,
			"execution", t.ExecutionID)
		if qerr := s.opts.Enqueue(ctx, JobTask, a); qerr != nil {
			_ = s.st.Policies.FinishTask(ctx, t.ID, "", meta.TaskFailed, t.Bytes, "could not queue: "+qerr.Error()+"\n")
			_ = s.maybeFinish(ctx, t.ExecutionID)
		}
	}
	return err
}
