package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// Payload formats of an http target (Harbor's names).
const (
	FormatDefault     = "Default"
	FormatCloudEvents = "CloudEvents"
)

// NotifyHTTP is the one notify type Berth delivers to.
const NotifyHTTP = "http"

// cloudEventTypes are Harbor's CloudEvents type names for its event types.
var cloudEventTypes = map[string]string{
	events.PushArtifact:      "harbor.artifact.pushed",
	events.PullArtifact:      "harbor.artifact.pulled",
	events.DeleteArtifact:    "harbor.artifact.deleted",
	events.ScanningCompleted: "harbor.scan.completed",
	events.ScanningFailed:    "harbor.scan.failed",
	events.ScanningStopped:   "harbor.scan.stopped",
	events.QuotaExceed:       "harbor.quota.exceeded",
	events.QuotaWarning:      "harbor.quota.warned",
	events.Replication:       "harbor.replication.status.changed",
	events.TagRetention:      "harbor.tag_retention.finished",
}

// resource is one entry of Harbor's event_data.resources.
type resource struct {
	Digest       string          `json:"digest,omitempty"`
	Tag          string          `json:"tag,omitempty"`
	ResourceURL  string          `json:"resource_url,omitempty"`
	ScanOverview json.RawMessage `json:"scan_overview,omitempty"`
}

type repository struct {
	DateCreated  int64  `json:"date_created,omitempty"`
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
}

// eventData is Harbor's event_data.
type eventData struct {
	Resources        []resource      `json:"resources,omitempty"`
	Repository       *repository     `json:"repository,omitempty"`
	CustomAttributes json.RawMessage `json:"custom_attributes,omitempty"`
	// Retention is a TAG_RETENTION event's detail (Harbor's shape, written
	// by internal/retention).
	Retention json.RawMessage `json:"retention,omitempty"`
}

// defaultPayload is Harbor's Default JSON.
type defaultPayload struct {
	Type      string    `json:"type"`
	OccurAt   int64     `json:"occur_at"`
	Operator  string    `json:"operator"`
	EventData eventData `json:"event_data"`
}

// cloudEvent is Harbor's CloudEvents 1.0 structured-mode body.
type cloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	RequestID       string    `json:"requestid"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	DataContentType string    `json:"datacontenttype"`
	Time            string    `json:"time"`
	Operator        string    `json:"operator"`
	Data            eventData `json:"data"`
}

// Payload renders event e of project (public or not) for a target of
// policy in format; host is the registry's external host (for
// resource_url; may be empty).
func Payload(e events.Event, project meta.Project, policyID int64, format, host string) ([]byte, error) {
	data := eventData{}
	if e.Repository != "" {
		ns, name, _ := strings.Cut(e.Repository, "/")
		repoType := "private"
		if project.Public {
			repoType = "public"
		}
		data.Repository = &repository{DateCreated: e.CreatedAt.Unix(), Name: name, Namespace: ns,
			RepoFullName: e.Repository, RepoType: repoType}
		res := resource{Digest: e.Digest.String()}
		if len(e.Tags) > 0 {
			res.Tag = e.Tags[0]
		}
		ref := e.Repository
		switch {
		case res.Tag != "":
			ref += ":" + res.Tag
		case e.Digest != "":
			ref += "@" + e.Digest.String()
		}
		if host != "" {
			ref = host + "/" + ref
		}
		res.ResourceURL = ref
		if e.Type == events.ScanningCompleted || e.Type == events.ScanningFailed || e.Type == events.ScanningStopped {
			res.ScanOverview = e.Detail
		}
		data.Resources = []resource{res}
		for _, t := range e.Tags[min(1, len(e.Tags)):] {
			r := res
			r.Tag = t
			r.ResourceURL = strings.TrimSuffix(ref, ":"+res.Tag) + ":" + t
			data.Resources = append(data.Resources, r)
		}
	}
	switch {
	case len(e.Detail) == 0 || strings.HasPrefix(e.Type, "SCANNING_"):
	case e.Type == events.TagRetention:
		data.Retention = e.Detail
	default:
		data.CustomAttributes = e.Detail
	}
	switch format {
	case "", FormatDefault:
		return json.Marshal(defaultPayload{Type: e.Type, OccurAt: e.CreatedAt.Unix(), Operator: e.Operator, EventData: data})
	case FormatCloudEvents:
		return json.Marshal(cloudEvent{
			SpecVersion: "1.0", ID: fmt.Sprintf("berth-event-%d-policy-%d", e.ID, policyID), RequestID: randomID(),
			Source: fmt.Sprintf("/projects/%d/webhook/policies/%d", project.ID, policyID),
			Type:   cloudEventTypes[e.Type], DataContentType: "application/json",
			Time: e.CreatedAt.UTC().Format(time.RFC3339), Operator: e.Operator, Data: data,
		})
	}
	return nil, fmt.Errorf("%w: payload format %q", ErrInvalid, format)
}

// contentType is the Content-Type of a payload in format.
func contentType(format string) string {
	if format == FormatCloudEvents {
		return "application/cloudevents+json"
	}
	return "application/json"
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
