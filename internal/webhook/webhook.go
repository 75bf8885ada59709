// Package webhook delivers Berth's events to HTTP receivers, as Harbor's
// webhooks do: policies per project (event types, http targets with an
// optional Authorization header secret and skip_cert_verify, Harbor's
// Default JSON or CloudEvents payloads).
//
// Delivery is durable and ordered per project. The outbox subscriber
// "webhook" (Subscriber) turns each event into delivery rows
// (meta.WebhookJob, Harbor's webhook jobs: the delivery log), idempotently,
// and enqueues the job "webhook_deliver" for the project. That job (Deliver)
// leases the project, so one worker at a time delivers its rows in id
// order; a failed delivery is retried with backoff (1 s doubling, at most
// 30 s, MaxAttempts attempts; each retry a job scheduled for its time)
// before the next row is tried, then marked "error". A replica that dies
// mid-delivery leaves its lease to expire (LeaseTTL); the periodic job
// "webhook_sweep" (Sweep) enqueues delivery for every project with an
// overdue unfinished row and no live lease, and the row is sent again (at
// least once).
//
// Secrets: auth headers are stored sealed with the policy (SealedStore)
// and sent as the Authorization header; the REST API never returns them
// and they are never logged.
//
// Targets: deliveries reach only the addresses TargetPolicy allows
// (webhook.allow_networks / deny_networks; loopback, link-local and cloud
// metadata addresses are refused unless allowed), checked at connect time
// against the resolved address.
package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// Settings.
const (
	// MaxAttempts bounds the attempts at one delivery.
	MaxAttempts = 8
	// LeaseTTL is how long a project's delivery lease lasts unrenewed.
	LeaseTTL = 30 * time.Second
	// SendTimeout bounds one HTTP attempt.
	SendTimeout = 10 * time.Second
	maxBackoff  = 30 * time.Second
	// MaxTargets and MaxEventTypes bound a policy.
	MaxTargets    = 10
	MaxEventTypes = 20
)

// Job kinds (internal/app registers them).
const (
	JobDeliver = "webhook_deliver"
	JobSweep   = "webhook_sweep"
)

// ErrInvalid: a policy the API must refuse (400).
var ErrInvalid = errors.New("invalid webhook policy")

// Store is what the service uses of the metadata store.
type Store interface {
	EnabledWebhookPolicies(ctx context.Context, projectID int64) ([]meta.WebhookPolicy, error)
	GetWebhookPolicy(ctx context.Context, projectID, id int64) (meta.WebhookPolicy, error)
	AddWebhookJobs(ctx context.Context, js []meta.WebhookJob) error
	NextWebhookJob(ctx context.Context, projectID int64) (meta.WebhookJob, bool, error)
	UpdateWebhookJob(ctx context.Context, id int64, status string, attempts int, lastError string, next time.Time) error
	ProjectsWithWebhookJobs(ctx context.Context, overdue time.Duration, limit int) ([]int64, error)
	LeaseWebhookProject(ctx context.Context, projectID int64, owner string, ttl time.Duration) (bool, error)
	ReleaseWebhookProject(ctx context.Context, projectID int64, owner string) error
}

// ProjectGetter finds a project by id (*meta.Projects).
type ProjectGetter interface {
	GetProject(ctx context.Context, id int64) (meta.Project, error)
}

// Enqueuer queues a job (*jobs.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, args any) error
	EnqueueAt(ctx context.Context, kind string, args any, at time.Time) error
}

// DeliverArgs are the arguments of JobDeliver.
type DeliverArgs struct {
	ProjectID int64 `json:"project_id"`
}

// Service queues and delivers webhooks.
type Service struct {
	store    Store
	projects ProjectGetter
	log      *slog.Logger
	host     string // the registry's external host, for resource_url
	owner    string
	queue    Enqueuer // set by SetQueue before the queue runs

	clients map[bool]*http.Client // by skip_cert_verify
}

// New returns a service; externalURL (may be empty) names the registry in
// payloads; targets bounds the addresses deliveries may reach.
func New(store Store, projects ProjectGetter, externalURL string, targets TargetPolicy, log *slog.Logger) *Service {
	host := ""
	if u, err := url.Parse(externalURL); err == nil {
		host = u.Host
	}
	hn, _ := os.Hostname()
	s := &Service{store: store, projects: projects, log: log, host: host,
		owner: fmt.Sprintf("%.40s_%d_%s", hn, os.Getpid(), randomID()[:12])}
	s.clients = map[bool]*http.Client{false: newClient(false, targets), true: newClient(true, targets)}
	return s
}

// newClient is the delivery client: every connection is checked against
// targets once its address is resolved, and no proxy is used (a proxy
// would dial the target where the check cannot see it).
func newClient(skipVerify bool, targets TargetPolicy) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: targets.control}
	t.DialContext = d.DialContext
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // the policy's skip_cert_verify, Harbor's option
	return &http.Client{
		Transport: t,
		Timeout:   SendTimeout,
		// A redirect is an answer, not a delivery: the secret stays with
		// the address the policy names.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SetQueue gives the service the job queue (created after the service).
func (s *Service) SetQueue(q Enqueuer) { s.queue = q }

// Subscriber is the outbox handler "webhook": it queues one delivery per
// enabled policy of the event's project that wants its type, per target,
// and enqueues the project's delivery job.
func (s *Service) Subscriber(ctx context.Context, e events.Event) error {
	if e.ProjectID == 0 {
		return nil
	}
	ps, err := s.store.EnabledWebhookPolicies(ctx, e.ProjectID)
	if err != nil || len(ps) == 0 {
		return err
	}
	var project meta.Project
	var js []meta.WebhookJob
	for _, p := range ps {
		if !wants(p, e.Type) {
			continue
		}
		if project.ID == 0 {
			if project, err = s.projects.GetProject(ctx, e.ProjectID); err != nil {
				if errors.Is(err, meta.ErrProjectNotFound) {
					return nil // gone since: nobody to tell
				}
				return err
			}
		}
		for i, t := range p.Targets {
			body, err := Payload(e, project, p.ID, t.PayloadFormat, s.host)
			if err != nil {
				return err
			}
			js = append(js, meta.WebhookJob{PolicyID: p.ID, ProjectID: e.ProjectID, EventID: e.ID, TargetIndex: i,
				EventType: e.Type, NotifyType: t.Type, JobDetail: string(body)})
		}
	}
	if len(js) == 0 {
		return nil
	}
	if err := s.store.AddWebhookJobs(ctx, js); err != nil {
		return err
	}
	return s.enqueue(ctx, e.ProjectID)
}

func (s *Service) enqueue(ctx context.Context, projectID int64) error {
	if s.queue == nil {
		return errors.New("webhook: no job queue")
	}
	return s.queue.Enqueue(ctx, JobDeliver, DeliverArgs{ProjectID: projectID})
}

func wants(p meta.WebhookPolicy, typ string) bool {
	for _, t := range p.EventTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// Sweep enqueues delivery for projects with unfinished deliveries that
// no live worker holds (a replica died mid-delivery, or an enqueue was lost).
func (s *Service) Sweep(ctx context.Context) error {
	ids, err := s.store.ProjectsWithWebhookJobs(ctx, 10*time.Second, 100)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.enqueue(ctx, id))
	}
	return errors.Join(errs...)
}

// Deliver sends projectID's due deliveries in order, unless another
// worker holds the project. A failed attempt schedules the next one
// (backoff) as a job of its own and ends this one: the project's later
// deliveries wait behind it (order per project). A job that finds the
// oldest delivery not yet due leaves it to the job that was scheduled for it.
func (s *Service) Deliver(ctx context.Context, a DeliverArgs) error {
	owner := s.owner + "_" + randomID()[:8] // one lease per job, not per replica
	ok, err := s.store.LeaseWebhookProject(ctx, a.ProjectID, owner, LeaseTTL)
	if err != nil || !ok {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.ReleaseWebhookProject(rctx, a.ProjectID, owner); err != nil {
			s.log.Warn("could not release webhook lease", "project_id", a.ProjectID, "err", err)
		}
	}()
	for ctx.Err() == nil {
		j, ok, err := s.store.NextWebhookJob(ctx, a.ProjectID)
		if err != nil || !ok {
			return err
		}
		if j.NextAttempt.After(time.Now()) {
			return nil
		}
		retryAt, err := s.attempt(ctx, owner, j)
		if err != nil {
			return err
		}
		if !retryAt.IsZero() {
			return s.queue.EnqueueAt(ctx, JobDeliver, a, retryAt)
		}
	}
	return nil
}

// attempt sends j once. It returns when to try again (zero: j is done,
// delivered or given up).
func (s *Service) attempt(ctx context.Context, owner string, j meta.WebhookJob) (time.Time, error) {
	p, err := s.store.GetWebhookPolicy(ctx, j.ProjectID, j.PolicyID)
	if errors.Is(err, meta.ErrWebhookPolicyNotFound) || (err == nil && j.TargetIndex >= len(p.Targets)) {
		return time.Time{}, s.store.UpdateWebhookJob(ctx, j.ID, meta.WebhookError, j.Attempts, "policy or target removed", time.Time{})
	}
	if err != nil {
		return time.Time{}, err
	}
	if ok, err := s.store.LeaseWebhookProject(ctx, j.ProjectID, owner, LeaseTTL); err != nil || !ok {
		if err == nil {
			err = errors.New("webhook: project lease lost")
		}
		return time.Time{}, err
	}
	attempt := j.Attempts + 1
	if err := s.store.UpdateWebhookJob(ctx, j.ID, meta.WebhookRunning, attempt, j.LastError, time.Time{}); err != nil {
		return time.Time{}, err
	}
	sendErr := s.send(ctx, p.Targets[j.TargetIndex], []byte(j.JobDetail))
	if sendErr == nil {
		return time.Time{}, s.store.UpdateWebhookJob(ctx, j.ID, meta.WebhookSuccess, attempt, "", time.Time{})
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err() // stopping: the row stays running; the sweep resumes it
	}
	s.log.WarnContext(ctx, "webhook delivery failed", "project_id", j.ProjectID, "policy_id", p.ID,
		"webhook_job_id", j.ID, "attempt", attempt, "err", sendErr)
	if attempt >= MaxAttempts || errors.Is(sendErr, ErrTargetRefused) {
		return time.Time{}, s.store.UpdateWebhookJob(ctx, j.ID, meta.WebhookError, attempt, sendErr.Error(), time.Time{})
	}
	next := time.Now().Add(backoff(attempt))
	return next, s.store.UpdateWebhookJob(ctx, j.ID, meta.WebhookPending, attempt, sendErr.Error(), next)
}

// send posts body to t; a 2xx answer is a delivery.
func (s *Service) send(ctx context.Context, t meta.WebhookTarget, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Address, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", contentType(t.PayloadFormat))
	req.Header.Set("User-Agent", "berth-webhook")
	if t.AuthHeader != "" {
		req.Header.Set("Authorization", t.AuthHeader)
	}
	resp, err := s.clients[t.SkipCertVerify].Do(req)
	if err != nil {
		// The URL error names the address; never the header.
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook receiver answered %s", resp.Status)
	}
	return nil
}

func backoff(attempt int) time.Duration {
	d := time.Second
	for range min(attempt-1, 10) {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Validate checks a policy as the API receives it and fills in defaults
// (payload format Default); it returns ErrInvalid with the reason.
func Validate(p *meta.WebhookPolicy) error {
	p.Name = strings.TrimSpace(p.Name)
	switch {
	case p.Name == "" || len(p.Name) > 256:
		return fmt.Errorf("%w: name must have 1 to 256 characters", ErrInvalid)
	case len(p.Description) > 1024:
		return fmt.Errorf("%w: description longer than 1024 characters", ErrInvalid)
	case len(p.Targets) == 0 || len(p.Targets) > MaxTargets:
		return fmt.Errorf("%w: want 1 to %d targets", ErrInvalid, MaxTargets)
	case len(p.EventTypes) == 0 || len(p.EventTypes) > MaxEventTypes:
		return fmt.Errorf("%w: want 1 to %d event types", ErrInvalid, MaxEventTypes)
	}
	for _, t := range p.EventTypes {
		if !events.ValidType(t) {
			return fmt.Errorf("%w: unknown event type %q", ErrInvalid, t)
		}
	}
	for i := range p.Targets {
		t := &p.Targets[i]
		if t.Type == "" {
			t.Type = NotifyHTTP
		}
		if t.Type != NotifyHTTP {
			return fmt.Errorf("%w: target type %q: Berth delivers to http targets only", ErrInvalid, t.Type)
		}
		u, err := url.Parse(t.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(t.Address) > 2048 {
			return fmt.Errorf("%w: target address must be an http or https URL", ErrInvalid)
		}
		if u.User != nil {
			return fmt.Errorf("%w: target address must not hold credentials: use auth_header", ErrInvalid)
		}
		if len(t.AuthHeader) > 4096 || strings.ContainsAny(t.AuthHeader, "\r\n") {
			return fmt.Errorf("%w: auth_header must be one line of at most 4096 bytes", ErrInvalid)
		}
		switch t.PayloadFormat {
		case "":
			t.PayloadFormat = FormatDefault
		case FormatDefault, FormatCloudEvents:
		default:
			return fmt.Errorf("%w: payload_format %q: want Default or CloudEvents", ErrInvalid, t.PayloadFormat)
		}
	}
	return nil
}
