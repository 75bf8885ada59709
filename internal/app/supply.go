package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/signature"
	"github.com/berth-registry/berth/internal/tokenauth"
	"github.com/berth-registry/berth/internal/webhook"
)

// supply holds the supply-chain parts of one replica: the event outbox's
// dispatcher and pull-event batcher (and what subscribes to them).
type supply struct {
	store      *meta.Store
	dispatcher *events.Dispatcher
	pulls      *events.Batcher
	pullWatch  *pullWatch // whether a webhook wants PULL_ARTIFACT (pullevents.go)
	webhooks   *webhook.Service
	// webhookStore and scanStore keep webhook auth headers and scanner
	// credentials sealed at rest (the API and the services use them).
	webhookStore *webhook.SealedStore
	scanStore    *scan.SealedStore
	scanAll      *scanAll // the scan-all schedule (scanall.go)
	scans        *scan.Service
	auth         *authStack // set by setAuth: the scanners' credentials
	log          *slog.Logger

	vulnMu    sync.Mutex
	vulnCache map[string]vulnPolicy // by project name (vulnPolicies)
	// changes is perf.go's change counter: a policy changed through this
	// replica's API is seen by its next pull.
	changes func() uint64
}

func newSupply(ctx context.Context, cfg config.Config, store *meta.Store, log *slog.Logger) (*supply, error) {
	keys, err := loadKeyring(cfg) // sealed.go
	if err != nil {
		return nil, err
	}
	s := &supply{
		store:        store,
		dispatcher:   events.NewDispatcher(store.Events, log),
		webhookStore: webhook.NewSealedStore(store.Webhooks, keys),
		scanStore:    scan.NewSealedStore(store.Scans, keys),
		log:          log,
	}
	if err := s.reseal(ctx); err != nil {
		return nil, err
	}
	allow, err := webhook.ParseNetworks(cfg.Webhook.AllowNetworks)
	if err != nil {
		return nil, fmt.Errorf("webhook.allow_networks: %w", err)
	}
	deny, err := webhook.ParseNetworks(cfg.Webhook.DenyNetworks)
	if err != nil {
		return nil, fmt.Errorf("webhook.deny_networks: %w", err)
	}
	s.webhooks = webhook.New(s.webhookStore, store.Projects, cfg.ExternalURL, webhook.TargetPolicy{Allow: allow, Deny: deny}, log)
	s.scans = scan.New(s.scanStore, store.Policies, store.Events, s.scanCredentials, cfg.ExternalURL, log)
	s.scanAll = &scanAll{schedules: store.Schedules, scans: store.Scans, svc: s.scans, catalog: scanCatalog{store}}
	// Subscribers register here, before Start.
	if err := s.dispatcher.Subscribe("webhook", s.webhooks.Subscriber); err != nil {
		return nil, err
	}
	if err := s.dispatcher.Subscribe("scan", s.scans.Subscriber); err != nil {
		return nil, err
	}
	if err := s.dispatcher.Start(ctx); err != nil {
		return nil, err
	}
	s.pulls = events.NewBatcher(store.Events, log)
	s.pullWatch = newPullWatch(store.Webhooks, log) // started by Run, with the change counter
	return s, nil
}

// reseal seals the webhook auth headers and scanner credentials stored in
// the clear (before Berth sealed them) or under an older key.
func (s *supply) reseal(ctx context.Context) error {
	w, err := s.webhookStore.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("seal webhook auth headers: %w", err)
	}
	c, err := s.scanStore.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("seal scanner credentials: %w", err)
	}
	if w+c > 0 {
		s.log.InfoContext(ctx, "sealed stored secrets with the newest key", "webhook_policies", w, "scanners", c)
	}
	return nil
}

// Close writes the queued pull events.
func (s *supply) Close() {
	s.pullWatch.Close()
	s.pulls.Close()
}

// onRegistryEvent passes e to next (the audit log) and queues a pull of an
// artifact as a PULL_ARTIFACT event; pushes and deletes are written by the
// registry in their own transactions.
func (s *supply) onRegistryEvent(next func(context.Context, distapi.Event)) func(context.Context, distapi.Event) {
	return func(ctx context.Context, e distapi.Event) {
		next(ctx, e)
		if e.Operation == distapi.EventPull && e.Kind == distapi.EventArtifact && s.pullWatch.want() {
			ev := events.New(events.PullArtifact, e.Repository, digest.Digest(e.Digest), access.FromContext(ctx).Name)
			if e.Reference != e.Digest {
				ev.Tags = []string{e.Reference}
			}
			s.pulls.Add(ev)
		}
	}
}

// setQueue hands the job queue to the parts that enqueue work.
func (s *supply) setQueue(q *jobs.Queue) {
	s.webhooks.SetQueue(q)
	s.scans.SetQueue(q)
	s.scanAll.queue = q
}

// setAuth gives the scanner's credentials their identity service and
// token issuer.
func (s *supply) setAuth(a *authStack) { s.auth = a }

// listening tells the scan service where scanners reach the registry when
// no external URL is configured.
func (s *supply) listening(cfg config.Config, addr net.Addr, tls bool) {
	if cfg.ExternalURL != "" {
		return
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	s.scans.SetRegistryURL(scheme + addr.String())
}

// scanCredentials makes the pull credentials of one scan: a robot of the
// project allowed to pull, expiring after ttl and deleted by cleanup, and
// a Bearer token for it that grants pull on repo only.
func (s *supply) scanCredentials(ctx context.Context, pid int64, repo string, ttl time.Duration) (string, func(), error) {
	if s.auth == nil || s.auth.issuer == nil {
		return "", nil, errors.New("scanner credentials: no token issuer")
	}
	rb, _, err := s.auth.identity.CreateRobot(ctx, identity.NewRobot{
		Name: "scanner-" + strings.ReplaceAll(scan.NewUUID(), "-", "")[:16], Description: "pulls " + repo + " for one scan",
		Level: meta.RobotProject, ProjectID: pid, ExpiresAt: time.Now().Add(ttl),
		Permissions: []meta.RobotPermission{{Kind: "project", Namespace: access.ProjectName(repo),
			Access: []meta.RobotAccess{{Resource: string(access.ResourceRepository), Action: string(access.ActionPull)}}}},
	})
	if err != nil {
		return "", nil, err
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.auth.identity.DeleteRobot(ctx, nil, rb.ID); err != nil {
			s.log.Warn("could not delete a scan robot; it expires by itself", "robot", rb.Name, "err", err)
		}
	}
	tok, err := s.auth.issuer.IssueScan(rb.Name, []tokenauth.ResourceActions{{Type: "repository", Name: repo, Actions: []string{"pull"}}}, ttl)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return "Bearer " + tok.Raw, cleanup, nil
}

// pullPolicy is the check distapi runs before answering a manifest GET:
// the project's signature policy (internal/signature).
func (s *supply) pullPolicy(blobs *content.Service) func(ctx context.Context, repo, ref string, m meta.Manifest) error {
	v := signature.New(s.store.Projects, s.store.Manifests, blobs, s.store.Policies)
	return func(ctx context.Context, repo, ref string, m meta.Manifest) error {
		if access.FromContext(ctx).Scanner {
			return nil // a scan's robot (its token says so), as Harbor skips policies for its scanner
		}
		if err := v.Check(ctx, repo, ref, m); err != nil {
			return err
		}
		return s.vulnCheck(ctx, repo, m)
	}
}

// vulnCheck applies prevent_vul (internal/scan) to a pull.
func (s *supply) vulnCheck(ctx context.Context, repo string, m meta.Manifest) error {
	pol, err := s.vulnPolicies(ctx, access.ProjectName(repo))
	if err != nil || !pol.project.PreventVul {
		return err
	}
	return s.scans.PullCheck(ctx, pol.projectID, repo, m.Digest, pol.project, pol.system)
}

// vulnPolicy is a project's prevent_vul settings with the system's, as
// cached for the pull path.
type vulnPolicy struct {
	projectID       int64
	project, system meta.ProjectPolicy
	until           time.Time
	gen             uint64 // the change counter when read
}

// vulnPolicyTTL is how long a project's vulnerability policy is used
// before it is read again: a change made on another replica takes effect
// within it. While the database is unreachable the last policy read is
// kept (nothing can change it meanwhile), so warm pulls go on.
const vulnPolicyTTL = 3 * time.Second

// vulnPolicies reads project's policies, at most once per vulnPolicyTTL.
func (s *supply) vulnPolicies(ctx context.Context, project string) (vulnPolicy, error) {
	s.vulnMu.Lock()
	old, ok := s.vulnCache[project]
	s.vulnMu.Unlock()
	var gen uint64
	if s.changes != nil {
		gen = s.changes()
	}
	if ok && old.gen == gen && time.Now().Before(old.until) {
		return old, nil
	}
	v, err := s.readVulnPolicies(ctx, project)
	v.gen = gen
	if err != nil {
		if ok && errors.Is(err, meta.ErrUnavailable) {
			return old, nil
		}
		return vulnPolicy{}, err
	}
	s.vulnMu.Lock()
	if s.vulnCache == nil || len(s.vulnCache) >= 10_000 {
		s.vulnCache = make(map[string]vulnPolicy) // bounded: start over
	}
	s.vulnCache[project] = v
	s.vulnMu.Unlock()
	return v, nil
}

func (s *supply) readVulnPolicies(ctx context.Context, project string) (vulnPolicy, error) {
	proj, err := s.store.Projects.GetProjectByName(ctx, project)
	if err != nil {
		return vulnPolicy{}, err
	}
	pol, err := s.store.Policies.GetProjectPolicy(ctx, proj.ID)
	if err != nil {
		return vulnPolicy{}, err
	}
	sys, err := s.store.Policies.GetProjectPolicy(ctx, meta.SystemPolicy)
	if err != nil {
		return vulnPolicy{}, err
	}
	return vulnPolicy{projectID: proj.ID, project: pol, system: sys, until: time.Now().Add(vulnPolicyTTL)}, nil
}

// withContent turns on the SBOMs scans attach to images (internal/scan).
func (s *supply) withContent(blobs *content.Service, reg *registry.Service) {
	s.scans.SetAttacher(sbomAttacher{blobs: blobs, reg: reg, manifests: s.store.Manifests})
}

// sbomAttacher stores SBOMs through the content and registry services.
type sbomAttacher struct {
	blobs     *content.Service
	reg       *registry.Service
	manifests *meta.Manifests
}

func (a sbomAttacher) PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader, n int64) (meta.Blob, error) {
	return a.blobs.PutBlob(ctx, repo, d, body, n)
}

func (a sbomAttacher) PutManifest(ctx context.Context, repo, mediaType string, payload []byte) (digest.Digest, error) {
	res, err := a.reg.PutManifest(ctx, repo, digest.FromBytes(payload).String(), mediaType, payload)
	return res.Digest, err
}

func (a sbomAttacher) Subject(ctx context.Context, repo string, d digest.Digest) (string, int64, error) {
	m, err := a.manifests.GetManifest(ctx, repo, d)
	return m.MediaType, m.Size, err
}

// scanCatalog is what the scan-all job walks.
type scanCatalog struct{ store *meta.Store }

func (c scanCatalog) ListRepositories(ctx context.Context, after string, limit int) ([]string, error) {
	return c.store.Repos.ListRepositories(ctx, after, limit)
}

func (c scanCatalog) ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error) {
	return c.store.Manifests.ListManifestDigests(ctx, repo, after, limit)
}

func (c scanCatalog) GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	return c.store.Manifests.GetManifest(ctx, repo, d)
}

func (c scanCatalog) GetProjectByName(ctx context.Context, name string) (meta.Project, error) {
	return c.store.Projects.GetProjectByName(ctx, name)
}
