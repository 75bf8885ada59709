package retention

// Metadata is Harbor's RetentionMetadata: the rule templates and the
// selectors a policy may use (GET /retentions/metadatas).
type Metadata struct {
	Templates      []TemplateMetadata `json:"templates"`
	ScopeSelectors []SelectorMetadata `json:"scope_selectors"`
	TagSelectors   []SelectorMetadata `json:"tag_selectors"`
}

// TemplateMetadata is Harbor's RetentionRuleMetadata.
type TemplateMetadata struct {
	RuleTemplate string          `json:"rule_template"`
	DisplayText  string          `json:"display_text"`
	Action       string          `json:"action"`
	Params       []ParamMetadata `json:"params"`
}

// ParamMetadata is Harbor's RetentionRuleParamMetadata.
type ParamMetadata struct {
	Type     string `json:"type"`
	Unit     string `json:"unit"`
	Required bool   `json:"required"`
}

// SelectorMetadata is Harbor's RetentionSelectorMetadata.
type SelectorMetadata struct {
	DisplayText string   `json:"display_text"`
	Kind        string   `json:"kind"`
	Decorations []string `json:"decorations"`
}

// Describe returns what policies may use, in Harbor's words.
func Describe() Metadata {
	count := []ParamMetadata{{Type: "int", Unit: "COUNT", Required: true}}
	days := []ParamMetadata{{Type: "int", Unit: "DAYS", Required: true}}
	return Metadata{
		Templates: []TemplateMetadata{
			{RuleTemplate: TemplateLatestPushedK, DisplayText: "the most recently pushed # artifacts", Action: ActionRetain, Params: count},
			{RuleTemplate: TemplateLatestPulledN, DisplayText: "the most recently pulled # artifacts", Action: ActionRetain, Params: count},
			{RuleTemplate: TemplateDaysSinceLastPush, DisplayText: "pushed within the last # days", Action: ActionRetain, Params: days},
			{RuleTemplate: TemplateDaysSinceLastPull, DisplayText: "pulled within the last # days", Action: ActionRetain, Params: days},
			{RuleTemplate: TemplateAlways, DisplayText: "always", Action: ActionRetain, Params: []ParamMetadata{}},
		},
		ScopeSelectors: []SelectorMetadata{
			{DisplayText: "Repositories", Kind: KindDoublestar, Decorations: []string{DecorationRepoMatches, DecorationRepoExcludes}},
		},
		TagSelectors: []SelectorMetadata{
			{DisplayText: "Tags", Kind: KindDoublestar, Decorations: []string{DecorationMatches, DecorationExcludes}},
			{DisplayText: "Labels", Kind: KindLabel, Decorations: []string{DecorationWithLabels, DecorationWithout}},
		},
	}
}
