package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Bounds of what goes with one deleted artifact.
const (
	// MaxAccessories is how many referrers and cosign accessories one
	// artifact may take with it; more fails its deletion (DEL FAILED).
	MaxAccessories = 1000
	// maxAccessoryDepth bounds referrers of referrers.
	maxAccessoryDepth = 8
	// maxEventArtifacts bounds the deleted_artifact list of a TAG_RETENTION
	// event (its detail stays far below meta.MaxEventDetail).
	maxEventArtifacts = 200
)

// ErrTooManyAccessories: an artifact has more referrers and accessories
// than one deletion takes along (MaxAccessories).
var ErrTooManyAccessories = errors.New("artifact has too many referrers and accessories to delete with it")

// accessoryReader is meta.Manifests as the cascade reads it: who names a
// manifest as its subject, and what a cosign tag points at.
type accessoryReader interface {
	ListManifestDependents(ctx context.Context, repo string, d digest.Digest, limit int) ([]meta.ManifestDependent, error)
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
}

// eventAppender is meta.Events as the Service writes TAG_RETENTION.
type eventAppender interface {
	Append(ctx context.Context, e meta.Event) (int64, error)
}

// cosignSuffixes are cosign's tag suffixes of an artifact's signature,
// attestation and SBOM (sha256-<hex>.<suffix>).
var cosignSuffixes = []string{"sig", "att", "sbom"}

// accessoriesOf lists what goes with artifact d of repo, in the order to
// delete it: the manifests naming d as their subject (OCI referrers:
// signatures, SBOMs, attestations) and the manifests behind cosign's tags
// for d, each after its own such accessories. An index that lists d is
// not an accessory: it keeps d (the deletion fails, as it should).
func (s *Service) accessoriesOf(ctx context.Context, repo string, d digest.Digest) ([]digest.Digest, error) {
	if s.d.Accessories == nil {
		return nil, nil
	}
	var out []digest.Digest
	seen := map[digest.Digest]bool{d: true}
	var walk func(x digest.Digest, depth int) error
	walk = func(x digest.Digest, depth int) error {
		if depth > maxAccessoryDepth {
			return fmt.Errorf("%w: referrers nested deeper than %d", ErrTooManyAccessories, maxAccessoryDepth)
		}
		deps, err := s.d.Accessories.ListManifestDependents(ctx, repo, x, MaxAccessories+1)
		if err != nil {
			return err
		}
		var next []digest.Digest
		for _, dep := range deps {
			if dep.Kind == meta.DependentReferrer && !seen[dep.Digest] {
				seen[dep.Digest] = true
				next = append(next, dep.Digest)
			}
		}
		if x.Algorithm() == digest.SHA256 {
			for _, suffix := range cosignSuffixes {
				got, err := s.d.Accessories.GetTag(ctx, repo, "sha256-"+x.Encoded()+"."+suffix)
				switch {
				case errors.Is(err, meta.ErrTagNotFound):
					continue
				case err != nil:
					return err
				}
				if !seen[got] {
					seen[got] = true
					next = append(next, got)
				}
			}
		}
		for _, n := range next {
			if err := walk(n, depth+1); err != nil {
				return err
			}
			out = append(out, n)
			if len(out) > MaxAccessories {
				return fmt.Errorf("%w: more than %d", ErrTooManyAccessories, MaxAccessories)
			}
		}
		return nil
	}
	if err := walk(d, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// deletedArtifact is one entry of Harbor's TAG_RETENTION deleted_artifact.
type deletedArtifact struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	NameTag string `json:"name_tag"`
}

// report is what an execution did, for its TAG_RETENTION event (Harbor's
// event_data.retention).
type report struct {
	Total             int               `json:"total"`
	Retained          int               `json:"retained"`
	ProjectName       string            `json:"project_name,omitempty"`
	RetentionPolicyID int64             `json:"retention_policy_id,omitempty"`
	RetentionRule     []reportRule      `json:"retention_rule,omitempty"`
	Status            string            `json:"result,omitempty"`
	DeletedArtifact   []deletedArtifact `json:"deleted_artifact,omitempty"`
	// Berth additions: the execution, how many artifacts went (with
	// their accessories), and how many entries deleted_artifact left out.
	ExecutionID int64 `json:"execution_id"`
	Deleted     int   `json:"deleted"`
	Accessories int   `json:"accessories_deleted"`
	Omitted     int   `json:"omitted,omitempty"`
}

// reportRule is one enabled rule of the policy, as Harbor's event lists it.
type reportRule struct {
	Template       string                `json:"template,omitempty"`
	Params         map[string]any        `json:"params,omitempty"`
	TagSelectors   []Selector            `json:"tag_selectors,omitempty"`
	ScopeSelectors map[string][]Selector `json:"scope_selectors,omitempty"`
}

// setRules lists the enabled rules of the policy that ran (a policy holds
// at most MaxRules).
func (r *report) setRules(rules []Rule) {
	r.RetentionRule = r.RetentionRule[:0]
	for _, rule := range rules {
		if !rule.Disabled {
			r.RetentionRule = append(r.RetentionRule, reportRule{rule.Template, rule.Params, rule.TagSelectors, rule.ScopeSelectors})
		}
	}
}

// add records the fate of candidate c of repo (a path inside project).
func (r *report) add(repo string, c Decision, ok bool) {
	status := "SUCCESS"
	if !ok {
		status = "FAILED"
	}
	names := make([]string, 0, len(c.Tags))
	for _, t := range c.Tags {
		names = append(names, repo+":"+t)
	}
	if len(names) == 0 {
		names = append(names, repo+"@"+c.Digest.String())
	}
	for _, n := range names {
		if len(r.DeletedArtifact) >= maxEventArtifacts {
			r.Omitted++
			continue
		}
		r.DeletedArtifact = append(r.DeletedArtifact, deletedArtifact{Type: "image", Status: status, NameTag: n})
	}
}

// eventStatus is Harbor's result of an execution status.
func eventStatus(status string) string {
	switch status {
	case meta.RetentionSuccess:
		return "SUCCESS"
	case meta.RetentionStopped:
		return "STOPPED"
	}
	return "FAILED"
}

// emit writes the TAG_RETENTION event of a real run (a dry run deletes
// nothing and writes none); a failure is logged, the run stands.
func (s *Service) emit(ctx context.Context, e meta.RetentionExecution, proj meta.Project, operator, status string, r *report) {
	if s.d.Events == nil || e.DryRun || r == nil {
		return
	}
	r.ProjectName, r.RetentionPolicyID, r.ExecutionID, r.Status = proj.Name, e.PolicyID, e.ID, eventStatus(status)
	detail, err := json.Marshal(r)
	if err == nil {
		if operator == "" {
			operator = "retention"
		}
		_, err = s.d.Events.Append(ctx, meta.Event{Type: EventTagRetention, ProjectID: proj.ID, Operator: operator, Detail: detail})
	}
	if err != nil {
		s.log.WarnContext(ctx, "could not record the retention event", "execution_id", e.ID, "err", err)
	}
}

// EventTagRetention is Harbor's event type of a finished retention run.
const EventTagRetention = "TAG_RETENTION"

// inProject is repo's path inside project proj.
func inProject(proj, repo string) string { return strings.TrimPrefix(repo, proj+"/") }
