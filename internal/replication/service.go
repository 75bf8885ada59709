package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Stores are the metadata aggregates the service uses.
type Stores struct {
	Registries registryStore
	Policies   policyStore
	Local      localStore
	// Proxy binds projects to their upstream (meta.Registries too).
	Proxy proxyStore
}

type proxyStore interface {
	ProxyProjectRegistry(ctx context.Context, name string) (int64, error)
	SetProjectRegistry(ctx context.Context, projectID, registryID int64) error
}

type registryStore interface {
	CreateRegistry(ctx context.Context, r meta.Registry) (meta.Registry, error)
	GetRegistry(ctx context.Context, id int64) (meta.Registry, error)
	ListRegistries(ctx context.Context, nameLike string, pg meta.Page) ([]meta.Registry, int, error)
	UpdateRegistry(ctx context.Context, r meta.Registry) error
	SetRegistrySecret(ctx context.Context, id int64, old, secret string) error
	DeleteRegistry(ctx context.Context, id int64) error
}

// localStore lists the local Berth's repositories and tags.
type localStore interface {
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)
}

// TokenMinter issues a short-lived registry token for the local Berth
// granting actions on the given repositories.
type TokenMinter func(repos []string, actions []string, ttl time.Duration) (string, error)

// Options configure the service.
type Options struct {
	Keys *Keyring
	// Token mints tokens for the local Berth (push and pull policies,
	// proxy cache).
	Token TokenMinter
	// Enqueue queues a job (kind, JSON-able args).
	Enqueue func(ctx context.Context, kind string, args any) error
	// Metrics, nil: none.
	Metrics *Metrics
	// EnsureProject creates a local project when it does not exist (pull
	// policies into a new namespace); nil: the project must exist.
	EnsureProject func(ctx context.Context, name string) error
	// Labels reads the labels of local artifacts (label filters of push
	// policies); nil: label filters on push policies fail.
	Labels LabelReader
	// Wrap, when set, wraps every outgoing transport (tests count
	// requests with it).
	Wrap func(http.RoundTripper) http.RoundTripper
}

// Service manages registry endpoints, replication policies and their
// executions.
type Service struct {
	st   Stores
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	local string // the local Berth's base URL, set once it listens
	tags  tagLister

	projectsSeen sync.Map // "<registry id> <project>" -> time.Time until which it is known to exist
}

// New returns the service.
func New(st Stores, opts Options, log *slog.Logger) *Service {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	return &Service{st: st, opts: opts, log: log}
}

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.opts.Metrics }

// SetLocal tells the service where the local Berth listens (its
// loopback base URL, e.g. http://127.0.0.1:5000) and how to list its tags.
func (s *Service) SetLocal(baseURL string, tags tagLister) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local, s.tags = strings.TrimRight(baseURL, "/"), tags
}

type tagLister interface {
	ListTags(ctx context.Context, repo, after string, limit int) ([]string, error)
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
}

// Registry is a registry endpoint as the API shows it. AccessSecret is
// input only: the service never returns it.
type Registry struct {
	ID          int64
	Name        string
	Description string
	Type        string
	URL         string
	Credential  Credential
	Insecure    bool
	CABundle    string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Credential are a registry's credentials.
type Credential struct {
	Type         string
	AccessKey    string
	AccessSecret string // input only
}

// Registry statuses (Harbor's).
const (
	StatusHealthy   = "healthy"
	StatusUnhealthy = "unhealthy"
)

func (r Registry) endpoint() Endpoint {
	return Endpoint{Type: r.Type, URL: strings.TrimRight(r.URL, "/"), CredentialType: r.Credential.Type,
		AccessKey: r.Credential.AccessKey, Secret: r.Credential.AccessSecret, Insecure: r.Insecure, CABundle: r.CABundle}
}

func checkRegistry(r Registry) error {
	if r.Name == "" || len(r.Name) > 255 {
		return invalidf("name must hold 1 to 255 characters")
	}
	if len(r.Description) > 1024 {
		return invalidf("description too long")
	}
	return checkEndpoint(r.endpoint())
}

func fromMeta(m meta.Registry) Registry {
	return Registry{ID: m.ID, Name: m.Name, Description: m.Description, Type: m.Type, URL: m.URL,
		Credential: Credential{Type: m.CredentialType, AccessKey: m.AccessKey}, Insecure: m.Insecure,
		CABundle: m.CABundle, Status: m.Status, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// CreateRegistry validates and stores r, its secret sealed.
func (s *Service) CreateRegistry(ctx context.Context, r Registry) (Registry, error) {
	if r.Credential.Type == "" && (r.Credential.AccessKey != "" || r.Credential.AccessSecret != "") {
		r.Credential.Type = CredentialBasic
	}
	r.URL = strings.TrimRight(r.URL, "/")
	if err := checkRegistry(r); err != nil {
		return Registry{}, err
	}
	sealed, err := s.opts.Keys.Seal(r.Credential.AccessSecret)
	if err != nil {
		return Registry{}, err
	}
	m, err := s.st.Registries.CreateRegistry(ctx, meta.Registry{Name: r.Name, Description: r.Description, Type: r.Type,
		URL: r.URL, CredentialType: r.Credential.Type, AccessKey: r.Credential.AccessKey, Secret: sealed,
		Insecure: r.Insecure, CABundle: r.CABundle, Status: StatusHealthy})
	if err != nil {
		return Registry{}, err
	}
	return fromMeta(m), nil
}

// GetRegistry returns registry id without its secret.
func (s *Service) GetRegistry(ctx context.Context, id int64) (Registry, error) {
	m, err := s.st.Registries.GetRegistry(ctx, id)
	if err != nil {
		return Registry{}, err
	}
	return fromMeta(m), nil
}

// ListRegistries returns a page of registries without secrets.
func (s *Service) ListRegistries(ctx context.Context, nameLike string, pg meta.Page) ([]Registry, int, error) {
	ms, total, err := s.st.Registries.ListRegistries(ctx, nameLike, pg)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Registry, len(ms))
	for i, m := range ms {
		out[i] = fromMeta(m)
	}
	return out, total, nil
}

// UpdateRegistry applies patch to registry id. The Registry patch sees
// has an empty AccessSecret: left empty, the stored secret is kept.
func (s *Service) UpdateRegistry(ctx context.Context, id int64, patch func(*Registry)) (Registry, error) {
	m, err := s.st.Registries.GetRegistry(ctx, id)
	if err != nil {
		return Registry{}, err
	}
	r := fromMeta(m)
	patch(&r)
	r.ID, r.URL = id, strings.TrimRight(r.URL, "/")
	if err := checkRegistry(r); err != nil {
		return Registry{}, err
	}
	sealed := m.Secret
	if r.Credential.AccessSecret != "" {
		if sealed, err = s.opts.Keys.Seal(r.Credential.AccessSecret); err != nil {
			return Registry{}, err
		}
	}
	err = s.st.Registries.UpdateRegistry(ctx, meta.Registry{ID: id, Name: r.Name, Description: r.Description, Type: r.Type,
		URL: r.URL, CredentialType: r.Credential.Type, AccessKey: r.Credential.AccessKey, Secret: sealed,
		Insecure: r.Insecure, CABundle: r.CABundle, Status: m.Status})
	if err != nil {
		return Registry{}, err
	}
	return s.GetRegistry(ctx, id)
}

// DeleteRegistry removes registry id unless a policy or project uses it.
func (s *Service) DeleteRegistry(ctx context.Context, id int64) error {
	return s.st.Registries.DeleteRegistry(ctx, id)
}

// endpoint returns registry id with its secret opened.
func (s *Service) endpoint(ctx context.Context, id int64) (Endpoint, error) {
	m, err := s.st.Registries.GetRegistry(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	secret, err := s.opts.Keys.Open(m.Secret)
	if err != nil {
		return Endpoint{}, fmt.Errorf("registry %d: %w", id, err)
	}
	r := fromMeta(m)
	r.Credential.AccessSecret = secret
	return r.endpoint(), nil
}

// Ping checks a registry definition (Harbor's POST /registries/ping): with
// an id, the stored registry with r's non-empty fields laid over it (a
// secret left out is the stored one); without, r alone.
func (s *Service) Ping(ctx context.Context, id int64, r Registry) error {
	var e Endpoint
	if id != 0 {
		stored, err := s.endpoint(ctx, id)
		if err != nil {
			return err
		}
		e = stored
		over := r.endpoint()
		if r.Type != "" {
			e.Type = over.Type
		}
		if r.URL != "" {
			e.URL = over.URL
		}
		if r.Credential.Type != "" {
			e.CredentialType = over.CredentialType
		}
		if r.Credential.AccessKey != "" {
			e.AccessKey = over.AccessKey
		}
		if r.Credential.AccessSecret != "" {
			e.Secret = over.Secret
		}
		if r.CABundle != "" {
			e.CABundle = over.CABundle
		}
		e.Insecure = e.Insecure || r.Insecure
	} else {
		e = r.endpoint()
		if e.CredentialType == "" && (e.AccessKey != "" || e.Secret != "") {
			e.CredentialType = CredentialBasic
		}
	}
	if err := checkEndpoint(e); err != nil {
		return err
	}
	c, err := newClient(e, s.opts.Wrap)
	if err != nil {
		return err
	}
	if err := c.ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return nil
}

// ErrUnreachable: the registry did not answer as expected.
var ErrUnreachable = errors.New("registry unreachable or credentials refused")

// Info is what a registry type supports (Harbor's RegistryInfo).
type Info struct {
	Type              string
	Description       string
	ResourceFilters   []FilterInfo
	SupportedTriggers []string
}

// FilterInfo describes one supported filter.
type FilterInfo struct {
	Type   string
	Style  string
	Values []string
}

// Info returns what registry id supports.
func (s *Service) Info(ctx context.Context, id int64) (Info, error) {
	r, err := s.GetRegistry(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return Info{Type: r.Type, Description: r.Description,
		ResourceFilters: []FilterInfo{
			{Type: FilterName, Style: "input"}, {Type: FilterTag, Style: "input"}, {Type: FilterLabel, Style: "input"},
		},
		SupportedTriggers: []string{TriggerManual, TriggerScheduled, TriggerEvent}}, nil
}

// Reencrypt seals every stored secret that is not under the newest key
// with the newest key (key rotation). It returns how many it rewrote.
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	n := 0
	for off := 0; ; off += 100 {
		ms, _, err := s.st.Registries.ListRegistries(ctx, "", meta.Page{Offset: off, Limit: 100})
		if err != nil {
			return n, err
		}
		for _, m := range ms {
			if s.opts.Keys.Current(m.Secret) {
				continue
			}
			plain, err := s.opts.Keys.Open(m.Secret)
			if err != nil {
				return n, fmt.Errorf("registry %d: %w", m.ID, err)
			}
			sealed, err := s.opts.Keys.Seal(plain)
			if err != nil {
				return n, err
			}
			if err := s.st.Registries.SetRegistrySecret(ctx, m.ID, m.Secret, sealed); err != nil {
				return n, err
			}
			n++
		}
		if len(ms) < 100 {
			return n, nil
		}
	}
}
