package replication

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/internal/meta"
)

// Trigger types (Harbor's).
const (
	TriggerManual    = "manual"
	TriggerScheduled = "scheduled"
	TriggerEvent     = "event_based"
)

type policyStore interface {
	CreatePolicy(ctx context.Context, p meta.ReplicationPolicy) (meta.ReplicationPolicy, error)
	GetPolicy(ctx context.Context, id int64) (meta.ReplicationPolicy, error)
	ListPolicies(ctx context.Context, nameLike string, pg meta.Page) ([]meta.ReplicationPolicy, int, error)
	UpdatePolicy(ctx context.Context, p meta.ReplicationPolicy) error
	DeletePolicy(ctx context.Context, id int64) error
	TakeDuePolicy(ctx context.Context, next func(p meta.ReplicationPolicy, after time.Time) time.Time) (meta.ReplicationPolicy, bool, error)

	CreateExecution(ctx context.Context, policyID int64, trigger string) (meta.ReplicationExecution, error)
	GetExecution(ctx context.Context, id int64) (meta.ReplicationExecution, error)
	ListExecutions(ctx context.Context, policyID int64, status string, pg meta.Page) ([]meta.ReplicationExecution, int, error)
	RequestStop(ctx context.Context, id int64) error
	FinishExecution(ctx context.Context, id int64, status, text string) error
	StopRequested(ctx context.Context, id int64) (bool, error)

	CreateTask(ctx context.Context, t meta.ReplicationTask) (meta.ReplicationTask, error)
	GetTask(ctx context.Context, id int64) (meta.ReplicationTask, error)
	ListTasks(ctx context.Context, executionID int64, status string, pg meta.Page) ([]meta.ReplicationTask, int, error)
	StartTask(ctx context.Context, id int64, runner string, staleBefore time.Time) (bool, error)
	HeartbeatTask(ctx context.Context, id int64, runner, resume string) error
	FinishTask(ctx context.Context, id int64, runner, status string, bytes int64, log string) error
	ReclaimStaleTasks(ctx context.Context, staleBefore time.Time, limit int) ([]meta.ReplicationTask, error)
}

// Policy is a replication policy. A zero registry id is the local Berth:
// a push policy has SrcRegistryID 0, a pull policy DestRegistryID 0.
type Policy struct {
	ID               int64
	Name             string
	Description      string
	Creator          string
	SrcRegistryID    int64
	DestRegistryID   int64
	DestNamespace    string
	DestReplaceCount int // -1: replace the first component; 0: keep the path; n: drop n components
	Filters          []Filter
	TriggerType      string
	TriggerCron      string
	Override         bool
	ReplicateDelete  bool
	Enabled          bool
	Speed            int // KB/s; 0 or -1: unlimited
	CopyByChunk      bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Push reports whether p copies from the local Berth to a remote.
func (p Policy) Push() bool { return p.SrcRegistryID == 0 }

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (s *Service) checkPolicy(ctx context.Context, p *Policy) error {
	if p.Name == "" || len(p.Name) > 255 {
		return invalidf("name must hold 1 to 255 characters")
	}
	if len(p.Description) > 1024 || len(p.DestNamespace) > 255 {
		return invalidf("description or dest_namespace too long")
	}
	if (p.SrcRegistryID == 0) == (p.DestRegistryID == 0) {
		return invalidf("exactly one of src_registry and dest_registry must be a remote registry")
	}
	for _, id := range []int64{p.SrcRegistryID, p.DestRegistryID} {
		if id == 0 {
			continue
		}
		if _, err := s.st.Registries.GetRegistry(ctx, id); err != nil {
			if errors.Is(err, meta.ErrRegistryNotFound) {
				return invalidf("registry %d does not exist", id)
			}
			return err
		}
	}
	f, err := compileFilters(p.Filters)
	if err != nil {
		return err
	}
	if f.hasLabels() && !p.Push() {
		src, err := s.st.Registries.GetRegistry(ctx, p.SrcRegistryID)
		if err != nil {
			return err
		}
		if !labelsSupported(src.Type) {
			return invalidf("label filters need a Berth or Harbor source: a %s registry keeps no labels", src.Type)
		}
	}
	if p.DestNamespace != "" && strings.Trim(p.DestNamespace, "/") != p.DestNamespace {
		return invalidf("dest_namespace must not start or end with /")
	}
	if p.DestReplaceCount < -1 || p.DestReplaceCount > 16 {
		return invalidf("dest_namespace_replace_count must be between -1 and 16")
	}
	switch p.TriggerType {
	case "":
		p.TriggerType = TriggerManual
	case TriggerManual:
	case TriggerScheduled:
		if _, err := cronParser.Parse(p.TriggerCron); err != nil {
			return invalidf("trigger_settings.cron: %v", err)
		}
	case TriggerEvent:
		if !p.Push() {
			return invalidf("event_based triggers are for push policies (dest_registry set)")
		}
	default:
		return invalidf("trigger.type must be manual, scheduled or event_based")
	}
	if p.Speed < -1 {
		return invalidf("speed must be -1 (unlimited) or more")
	}
	return nil
}

func (p Policy) toMeta() meta.ReplicationPolicy {
	filters, _ := json.Marshal(p.Filters)
	if p.Filters == nil {
		filters = []byte("[]")
	}
	m := meta.ReplicationPolicy{ID: p.ID, Name: p.Name, Description: p.Description, Creator: p.Creator,
		SrcRegistryID: p.SrcRegistryID, DestRegistryID: p.DestRegistryID, DestNamespace: p.DestNamespace,
		DestReplaceCount: p.DestReplaceCount, Filters: string(filters), TriggerType: p.TriggerType,
		TriggerCron: p.TriggerCron, Override: p.Override, ReplicateDeletion: p.ReplicateDelete, Enabled: p.Enabled,
		SpeedKB: p.Speed, CopyByChunk: p.CopyByChunk}
	if p.TriggerType == TriggerScheduled && p.Enabled {
		if sch, err := cronParser.Parse(p.TriggerCron); err == nil {
			m.NextRun = sch.Next(time.Now())
		}
	}
	return m
}

func policyFromMeta(m meta.ReplicationPolicy) Policy {
	p := Policy{ID: m.ID, Name: m.Name, Description: m.Description, Creator: m.Creator, SrcRegistryID: m.SrcRegistryID,
		DestRegistryID: m.DestRegistryID, DestNamespace: m.DestNamespace, DestReplaceCount: m.DestReplaceCount,
		TriggerType: m.TriggerType, TriggerCron: m.TriggerCron, Override: m.Override, ReplicateDelete: m.ReplicateDeletion,
		Enabled: m.Enabled, Speed: m.SpeedKB, CopyByChunk: m.CopyByChunk, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	_ = json.Unmarshal([]byte(m.Filters), &p.Filters) // written by toMeta
	return p
}

// CreatePolicy validates and stores p.
func (s *Service) CreatePolicy(ctx context.Context, p Policy) (Policy, error) {
	if err := s.checkPolicy(ctx, &p); err != nil {
		return Policy{}, err
	}
	m, err := s.st.Policies.CreatePolicy(ctx, p.toMeta())
	if err != nil {
		return Policy{}, err
	}
	return policyFromMeta(m), nil
}

// GetPolicy returns policy id.
func (s *Service) GetPolicy(ctx context.Context, id int64) (Policy, error) {
	m, err := s.st.Policies.GetPolicy(ctx, id)
	if err != nil {
		return Policy{}, err
	}
	return policyFromMeta(m), nil
}

// ListPolicies returns a page of policies.
func (s *Service) ListPolicies(ctx context.Context, nameLike string, pg meta.Page) ([]Policy, int, error) {
	ms, total, err := s.st.Policies.ListPolicies(ctx, nameLike, pg)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Policy, len(ms))
	for i, m := range ms {
		out[i] = policyFromMeta(m)
	}
	return out, total, nil
}

// UpdatePolicy replaces policy id with p (creator kept).
func (s *Service) UpdatePolicy(ctx context.Context, id int64, p Policy) (Policy, error) {
	if _, err := s.st.Policies.GetPolicy(ctx, id); err != nil {
		return Policy{}, err
	}
	p.ID = id
	if err := s.checkPolicy(ctx, &p); err != nil {
		return Policy{}, err
	}
	if err := s.st.Policies.UpdatePolicy(ctx, p.toMeta()); err != nil {
		return Policy{}, err
	}
	return s.GetPolicy(ctx, id)
}

// DeletePolicy removes policy id and its history. A running execution is
// asked to stop first.
func (s *Service) DeletePolicy(ctx context.Context, id int64) error {
	running, _, err := s.st.Policies.ListExecutions(ctx, id, meta.ExecRunning, meta.Page{Limit: 100})
	if err != nil {
		return err
	}
	for _, e := range running {
		if err := s.st.Policies.RequestStop(ctx, e.ID); err != nil {
			return err
		}
	}
	return s.st.Policies.DeletePolicy(ctx, id)
}

// destRepo is where src lands under p's destination namespace and
// flattening (Harbor's dest_namespace and dest_namespace_replace_count).
func destRepo(p Policy, src string) string {
	ns := strings.Trim(p.DestNamespace, "/")
	if ns == "" {
		return src
	}
	parts := strings.Split(src, "/")
	switch n := p.DestReplaceCount; {
	case n < 0: // replace the project
		if len(parts) > 1 {
			parts = parts[1:]
		}
	case n > 0:
		parts = parts[min(n, len(parts)-1):]
	}
	return ns + "/" + strings.Join(parts, "/")
}
