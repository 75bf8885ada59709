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

// eventData is Harbor's event_data. Replication and Retention carry the
// event's detail for REPLICATION and TAG_RETENTION events (Harbor's
// "replication" and "retention" objects, as their emitters write them);
// CustomAttributes carries it for the other types (QUOTA_* events' "Details").
type eventData struct {
	Resources        []resource      `json:"resources,omitempty"`
	Repository       *repository     `json:"repository,omitempty"`
	Replication      json.RawMessage `json:"replication,omitempty"`
	Retention        json.RawMessage `json:"retention,omitempty"`
	CustomAttributes json.RawMessage `json:"custom_attributes,omitempty"`
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
		if isScan(e.Type) {
			res.ScanOverview = detail(e.Detail)
		}
		data.Resources = []resource{res}
		for _, t := range e.Tags[min(1, len(e.Tags)):] {
			r := res
			r.Tag = t
			r.ResourceURL = strings.TrimSuffix(ref, ":"+res.Tag) + ":" + t
			data.Resources = append(data.Resources, r)
		}
	}
	switch d := detail(e.Detail); {
	case d == nil || isScan(e.Type):
	case e.Type == events.Replication:
		data.Replication = d
	case e.Type == events.TagRetention:
		data.Retention = d
	default:
		data.CustomAttributes = d
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

func isScan(t string) bool {
	return t == events.ScanningCompleted || t == events.ScanningFailed || t == events.ScanningStopped
}

// detail is an event's detail as JSON to embed: nil when empty; a JSON
// object or array as it is; anything else (text, a scalar, broken JSON)
// as Harbor's {"Details": "..."}, so no detail can make a payload
// unrenderable (and its event undeliverable).
func detail(b []byte) json.RawMessage {
	t := strings.TrimSpace(string(b))
	if t == "" {
		return nil
	}
	if (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	out, _ := json.Marshal(map[string]string{"Details": t})
	return out
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
