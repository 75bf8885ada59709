package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// replicationActor creates destination projects of pull policies (a
// system robot allowed to create projects, recorded as "replication" in
// the audit log).
var replicationActor = project.Actor{Principal: access.Principal{Kind: access.KindRobot, Name: "replication",
	Scopes: []access.Scope{{Project: "/", Resource: access.ResourceProject, Action: access.ActionCreate}}}}

// lateQueue lets the replication service queue jobs on a queue opened
// after it (set before the server serves).
type lateQueue struct{ q *jobs.Queue }

func (l *lateQueue) enqueue(ctx context.Context, kind string, args any) error {
	if l.q == nil {
		return errors.New("replication: job queue not ready")
	}
	return l.q.Enqueue(ctx, kind, args)
}

// newReplication builds the replication service: the credential keyring
// from replication.key_file (or derived from the shared session key),
// tokens for the local registry from the token issuer, and every stored
// credential re-encrypted with the newest key.
func newReplication(ctx context.Context, cfg config.Config, store *meta.Store, auth *authStack, rec audit.Recorder, queue *lateQueue, log *slog.Logger) (*replication.Service, error) {
	keys, err := loadKeyring(cfg) // sealed.go
	if err != nil {
		return nil, err
	}
	projects := project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, auth.settings, rec, log)
	svc := replication.New(replication.Stores{Registries: store.Registries, Policies: store.Replication, Local: store.Repos,
		Proxy: store.Registries},
		replication.Options{
			Keys:    keys,
			Token:   tokenMinter(auth.issuer),
			Enqueue: queue.enqueue,
			Labels:  artifactLabels(store),
			EnsureProject: func(ctx context.Context, name string) error {
				_, err := projects.Create(ctx, replicationActor, name, false)
				if errors.Is(err, project.ErrExists) {
					return nil
				}
				return err
			},
		}, log)
	n, err := svc.Reencrypt(ctx)
	if err != nil {
		return nil, fmt.Errorf("re-encrypt registry credentials: %w", err)
	}
	if n > 0 {
		log.InfoContext(ctx, "re-encrypted registry credentials with the newest key", "count", n)
	}
	return svc, nil
}

// tokenMinter issues registry tokens for the local Berth's own /v2/,
// granting exactly the repositories a task touches.
func tokenMinter(issuer *tokenauth.Issuer) replication.TokenMinter {
	return func(repos, actions []string, ttl time.Duration) (string, error) {
		grants := make([]tokenauth.ResourceActions, 0, len(repos))
		for _, r := range repos {
			grants = append(grants, tokenauth.ResourceActions{Type: "repository", Name: r, Actions: actions})
		}
		tok, err := issuer.IssueFor(identity.AdminUsername, grants, ttl)
		return tok.Raw, err
	}
}

// loopbackURL is how the server reaches itself: its port on the loopback
// address.
func loopbackURL(addr net.Addr, tls bool) string {
	port := 0
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = ta.Port
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(port)
}

// replicationJobs are the replication job kinds.
func replicationJobs(svc *replication.Service) []jobs.Job {
	return []jobs.Job{
		{Kind: replication.JobScan, Timeout: 30 * time.Minute, MaxAttempts: 3, Run: jobs.WithArgs(svc.RunScan)},
		{Kind: replication.JobTask, Timeout: replication.TaskTimeout, MaxAttempts: replication.MaxTaskAttempts,
			Run: jobs.WithArgs(svc.RunTask)},
		{Kind: replication.JobSchedule, Every: 10 * time.Second, Timeout: 5 * time.Minute, Run: jobs.NoArgs(svc.RunSchedule)},
		{Kind: replication.JobReclaim, Every: 10 * time.Second, Timeout: 5 * time.Minute, Run: jobs.NoArgs(svc.RunReclaim)},
	}
}

// subscribeReplication starts event-based push policies from the event
// outbox: a pushed or deleted artifact gets an execution of every
// matching policy (the dispatcher retries a handler that fails).
func subscribeReplication(ctx context.Context, d *events.Dispatcher, svc *replication.Service) error {
	err := d.Subscribe("replication", func(ctx context.Context, e events.Event) error {
		switch e.Type {
		case string(events.PushArtifact):
			return svc.OnArtifactEvent(ctx, false, e.Repository, e.Digest.String(), e.Tags)
		case string(events.DeleteArtifact):
			return svc.OnArtifactEvent(ctx, true, e.Repository, e.Digest.String(), e.Tags)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The cursor from now on (Start is idempotent), so that no event of
	// this run is missed.
	return d.Start(ctx)
}

// newProxy serves proxy-cache projects through the distribution API.
func newProxy(cfg config.Config, repl *replication.Service, blobs *content.Service, reg *registry.Service, log *slog.Logger) distapi.Proxy {
	return proxyAdapter{repl.NewProxy(proxyLocal{blobs, reg}, cfg.Replication.ProxyTagCheck, log)}
}

// proxyAdapter is *replication.Proxy as distapi.Proxy.
type proxyAdapter struct{ p *replication.Proxy }

func (a proxyAdapter) Manifest(ctx context.Context, repo, ref string) (meta.Manifest, bool, error) {
	return a.p.Manifest(ctx, repo, ref)
}

func (a proxyAdapter) IsProxy(ctx context.Context, repo string) (bool, error) {
	return a.p.IsProxy(ctx, repo)
}

func (a proxyAdapter) Blob(ctx context.Context, repo string, d digest.Digest, w distapi.ProxyBlobWriter) (bool, error) {
	return a.p.Blob(ctx, repo, d, w)
}

// proxyLocal is the local registry as the proxy cache writes to it.
type proxyLocal struct {
	*content.Service
	reg *registry.Service
}

func (l proxyLocal) Resolve(ctx context.Context, repo, ref string) (meta.Manifest, error) {
	return l.reg.Resolve(ctx, repo, ref)
}

func (l proxyLocal) PutManifest(ctx context.Context, repo, ref, contentType string, payload []byte) error {
	_, err := l.reg.PutManifest(ctx, repo, ref, contentType, payload)
	return err
}

// artifactLabels reads the labels of local artifacts for the label
// filters of push policies.
func artifactLabels(store *meta.Store) replication.LabelReader {
	return func(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
		m, err := store.Manifests.GetManifest(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		byID, err := store.Labels.ArtifactLabels(ctx, []int64{m.ID})
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(byID[m.ID]))
		for _, l := range byID[m.ID] {
			names = append(names, l.Name)
		}
		return names, nil
	}
}
