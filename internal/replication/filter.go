package replication

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Filter types and decorations (Harbor's).
const (
	FilterName     = "name"
	FilterTag      = "tag"
	FilterLabel    = "label"
	FilterResource = "resource"

	DecorationMatches  = "matches"
	DecorationExcludes = "excludes"
)

// Filter is one filter of a policy, as Harbor stores it: a name or tag
// pattern (Value a string), or labels (Value a list of strings).
type Filter struct {
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
	Decoration string          `json:"decoration,omitempty"`
}

// compiled is a policy's filters ready to match.
type compiled struct {
	names, tags []matcher
	// labels are the label filters: Harbor's semantics, each filter on
	// its own (see labelsPass).
	labels []labelMatcher
}

// labelMatcher is one label filter: the artifact must carry every one of
// names ("matches"), or must not carry all of them ("excludes").
type labelMatcher struct {
	names   []string
	exclude bool
}

// hasLabels reports whether c filters on labels.
func (c compiled) hasLabels() bool { return len(c.labels) > 0 }

// labelsPass reports whether an artifact carrying the labels named have
// passes every label filter, as Harbor's artifact label filter decides:
// "matches" keeps an artifact that carries every label of the filter,
// "excludes" drops one that carries every label of the filter.
func (c compiled) labelsPass(have []string) bool {
	set := make(map[string]bool, len(have))
	for _, l := range have {
		set[l] = true
	}
	for _, m := range c.labels {
		all := true
		for _, n := range m.names {
			if !set[n] {
				all = false
				break
			}
		}
		if all == m.exclude {
			return false
		}
	}
	return true
}

type matcher struct {
	re      *regexp.Regexp
	exclude bool
}

func compileFilters(fs []Filter) (compiled, error) {
	var c compiled
	if len(fs) > 20 {
		return c, invalidf("at most 20 filters")
	}
	for _, f := range fs {
		exclude := false
		switch f.Decoration {
		case "", DecorationMatches:
		case DecorationExcludes:
			exclude = true
		default:
			return c, invalidf("filter decoration must be matches or excludes")
		}
		switch f.Type {
		case FilterName, FilterTag:
			var v string
			if err := json.Unmarshal(f.Value, &v); err != nil {
				return c, invalidf("%s filter value must be a string", f.Type)
			}
			if v == "" {
				continue
			}
			re, err := Pattern(v)
			if err != nil {
				return c, err
			}
			if f.Type == FilterName {
				c.names = append(c.names, matcher{re, exclude})
			} else {
				c.tags = append(c.tags, matcher{re, exclude})
			}
		case FilterLabel:
			var v []string
			if err := json.Unmarshal(f.Value, &v); err != nil {
				return c, invalidf("label filter value must be a list of strings")
			}
			if len(v) > 20 {
				return c, invalidf("a label filter names at most 20 labels")
			}
			var names []string
			for _, n := range v {
				if n == "" || len(n) > 128 {
					return c, invalidf("a label name holds 1 to 128 characters")
				}
				names = append(names, n)
			}
			if len(names) > 0 { // no labels: Harbor's filter keeps everything
				c.labels = append(c.labels, labelMatcher{names: names, exclude: exclude})
			}
		case FilterResource:
			var v string
			if err := json.Unmarshal(f.Value, &v); err != nil || (v != "image" && v != "artifact" && v != "") {
				return c, invalidf("resource filter value must be image or artifact")
			}
		default:
			return c, invalidf("filter type must be name, tag, label or resource")
		}
	}
	return c, nil
}

// matchAll reports whether s passes every matcher (each "matches" must
// match, each "excludes" must not).
func matchAll(ms []matcher, s string) bool {
	for _, m := range ms {
		if m.re.MatchString(s) == m.exclude {
			return false
		}
	}
	return true
}

// literalName returns the name filter's value when it is a plain name
// (no pattern characters): a source without a catalog (Docker Hub) is
// then asked for that repository only.
func literalName(fs []Filter) (string, bool) {
	for _, f := range fs {
		var v string
		if f.Type == FilterName && f.Decoration != DecorationExcludes && json.Unmarshal(f.Value, &v) == nil &&
			v != "" && !strings.ContainsAny(v, "*?{}[]") {
			return v, true
		}
	}
	return "", false
}

// Pattern compiles one of Harbor's filter patterns (doublestar syntax):
// "**" matches anything, "/" included; "*" anything but "/"; "?" one
// character but "/"; "{a,b}" either alternative (nesting allowed);
// anything else itself. The whole string must match.
func Pattern(p string) (*regexp.Regexp, error) {
	if len(p) > 256 {
		return nil, invalidf("pattern too long")
	}
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth == 0 {
				return nil, invalidf("pattern %q: unbalanced }", p)
			}
			depth--
			b.WriteString(")")
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(string(p[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	if depth != 0 {
		return nil, invalidf("pattern %q: unbalanced {", p)
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %v", ErrInvalid, p, err)
	}
	return re, nil
}
