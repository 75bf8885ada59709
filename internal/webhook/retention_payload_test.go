package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/webhook"
)

// TestRetentionPayload: a TAG_RETENTION event's detail is Harbor's
// event_data.retention (not a custom attribute); a quota event's detail
// stays event_data.custom_attributes.
func TestRetentionPayload(t *testing.T) {
	detail := json.RawMessage(`{"total":3,"retained":2,"project_name":"p","result":"SUCCESS","deleted_artifact":[{"type":"image","status":"SUCCESS","name_tag":"app:old"}]}`)
	for _, tc := range []struct {
		typ, key string
	}{{events.TagRetention, "retention"}, {events.QuotaWarning, "custom_attributes"}} {
		for _, format := range []string{webhook.FormatDefault, webhook.FormatCloudEvents} {
			body, err := webhook.Payload(events.Event{Type: tc.typ, ProjectID: 1, Operator: "admin", Detail: detail}, meta.Project{ID: 1, Name: "p"}, 7, format, "")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				EventData map[string]json.RawMessage `json:"event_data"`
				Data      map[string]json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			data := got.EventData
			if format == webhook.FormatCloudEvents {
				data = got.Data
			}
			if string(data[tc.key]) != string(detail) || len(data) != 1 {
				t.Errorf("%s %s: event data %s, want the detail under %s only", tc.typ, format, body, tc.key)
			}
		}
	}
}
