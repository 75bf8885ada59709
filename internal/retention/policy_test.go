package retention

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const goodPolicy = `{"algorithm":"or","rules":[{"disabled":false,"action":"retain","template":"latestPushedK",
	"params":{"latestPushedK":10},"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**","extras":"{\"untagged\":true}"}],
	"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}],
	"trigger":{"kind":"Schedule","settings":{"cron":"0 0 0 * * *"},"references":{}},"scope":{"level":"project","ref":7}}`

func decode(t *testing.T, s string) Policy {
	t.Helper()
	var p Policy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNormalizeGood(t *testing.T) {
	p, err := Normalize(decode(t, goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Rules[0].ID != 1 || p.Rules[0].Params["latestPushedK"] != 10 || p.Cron() != "0 0 0 * * *" || p.ProjectID() != 7 {
		t.Errorf("normalized = %+v", p)
	}
	// Defaults: no algorithm, no action, no trigger.
	p2, err := Normalize(decode(t, `{"rules":[{"template":"always","tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],
		"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}],"scope":{"level":"project","ref":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Algorithm: "or", Scope: &Scope{Level: "project", Ref: 1},
		Trigger: &Trigger{Kind: "Schedule", Settings: map[string]any{"cron": ""}, References: map[string]any{}},
		Rules: []Rule{{ID: 1, Action: "retain", Template: "always", Params: map[string]any{},
			TagSelectors:   []Selector{{Kind: "doublestar", Decoration: "matches", Pattern: "**", Extras: `{"untagged":false}`}},
			ScopeSelectors: map[string][]Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}}}
	if diff := cmp.Diff(want, p2); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestNormalizeBad(t *testing.T) {
	tests := []struct {
		name, from, to, msg string
	}{
		{"algorithm", `"algorithm":"or"`, `"algorithm":"and"`, "algorithm"},
		{"no scope", `,"scope":{"level":"project","ref":7}`, ``, "scope"},
		{"scope level", `"level":"project"`, `"level":"system"`, "scope"},
		{"action", `"action":"retain"`, `"action":"delete"`, "action"},
		{"template", `"template":"latestPushedK"`, `"template":"latestK"`, "template"},
		{"param missing", `"params":{"latestPushedK":10}`, `"params":{}`, "params.latestPushedK"},
		{"param negative", `"latestPushedK":10`, `"latestPushedK":-1`, "params.latestPushedK"},
		{"param too large", `"latestPushedK":10`, `"latestPushedK":10001`, "params.latestPushedK"},
		{"param fraction", `"latestPushedK":10`, `"latestPushedK":1.5`, "integer"},
		{"param text", `"latestPushedK":10`, `"latestPushedK":"ten"`, "integer"},
		{"param unknown", `"params":{"latestPushedK":10}`, `"params":{"latestPushedK":10,"x":1}`, "params.x"},
		{"no tag selector", `"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**","extras":"{\"untagged\":true}"}]`, `"tag_selectors":[]`, "tag_selectors"},
		{"tag kind", `"kind":"doublestar","decoration":"matches"`, `"kind":"regexp","decoration":"matches"`, "kind"},
		{"tag decoration", `"decoration":"matches"`, `"decoration":"repoMatches"`, "decoration"},
		{"tag pattern empty", `"decoration":"matches","pattern":"**"`, `"decoration":"matches","pattern":""`, "pattern is empty"},
		{"tag pattern bad", `"decoration":"matches","pattern":"**"`, `"decoration":"matches","pattern":"[a"`, "not a valid pattern"},
		{"extras", `"extras":"{\"untagged\":true}"`, `"extras":"yes"`, "extras"},
		{"no repository selector", `"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}`, `"scope_selectors":{}`, "scope_selectors.repository"},
		{"scope selector key", `"scope_selectors":{"repository"`, `"scope_selectors":{"namespace"`, "scope_selectors.namespace"},
		{"repo decoration", `"decoration":"repoMatches"`, `"decoration":"matches"`, "repoMatches or repoExcludes"},
		{"trigger kind", `"kind":"Schedule"`, `"kind":"Event"`, "trigger.kind"},
		{"cron", `"cron":"0 0 0 * * *"`, `"cron":"every day"`, "trigger.settings.cron"},
		{"cron five fields", `"cron":"0 0 0 * * *"`, `"cron":"0 0 * * *"`, "six fields"},
		{"label empty", `"kind":"doublestar","decoration":"matches","pattern":"**","extras":"{\"untagged\":true}"`, `"kind":"label","decoration":"withLabels","pattern":" , "`, "label names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(goodPolicy, tt.from, tt.to, 1)
			if src == goodPolicy {
				t.Fatalf("replacement %q not found", tt.from)
			}
			_, err := Normalize(decode(t, src))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Normalize err = %v, want ErrInvalid mentioning %q", err, tt.msg)
			}
		})
	}
	t.Run("too many rules", func(t *testing.T) {
		p := decode(t, goodPolicy)
		for len(p.Rules) <= MaxRules {
			p.Rules = append(p.Rules, p.Rules[0])
		}
		if _, err := Normalize(p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most 15") {
			t.Errorf("Normalize err = %v", err)
		}
	})
}
