package oci

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkKeys refuses a JSON document in which one object holds a key twice
// as encoding/json matches keys to fields: ignoring case. Such a document
// means two things: Berth reads the last value ("layers" then "LAYERS":
// the second list), a case-sensitive client may read the first, so the
// references Berth checked would not be the ones a client pulls. Objects
// under "annotations" are maps, whose keys are compared exactly.
//
// payload must be one valid JSON value (it has decoded without error).
func checkKeys(payload []byte) error {
	type frame struct {
		object bool
		keys   keySet
		// annotations: the last key of this object was "annotations".
		annotations bool
	}
	var stack []frame
	push := func(object, exact bool) {
		if len(stack) < cap(stack) { // reuse the key list of an earlier sibling
			stack = stack[:len(stack)+1]
			fr := &stack[len(stack)-1]
			fr.object, fr.annotations = object, false
			fr.keys = keySet{exact: exact, list: fr.keys.list[:0]}
			return
		}
		stack = append(stack, frame{object: object, keys: keySet{exact: exact}})
	}
	wantKey := false
	for i := 0; i < len(payload); i++ {
		switch payload[i] {
		case '{':
			n := len(stack)
			push(true, n > 0 && stack[n-1].object && stack[n-1].annotations)
			wantKey = true
		case '[':
			push(false, false)
			wantKey = false
		case '}', ']':
			if len(stack) == 0 {
				return invalid("unbalanced %q", payload[i])
			}
			stack = stack[:len(stack)-1]
			wantKey = false
		case ',':
			wantKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end := i + 1
			escaped := false
			for ; end < len(payload) && payload[end] != '"'; end++ {
				if payload[end] == '\\' {
					escaped = true
					end++
				}
			}
			if end >= len(payload) {
				return invalid("unterminated string")
			}
			if wantKey && len(stack) > 0 {
				k := string(payload[i+1 : end])
				if escaped || !utf8.ValidString(k) { // decode it as encoding/json does
					if err := json.Unmarshal(payload[i:end+1], &k); err != nil {
						return invalid("key %q: %v", truncate(k, 100), err)
					}
				}
				fr := &stack[len(stack)-1]
				if !fr.keys.add(k) {
					return invalid("key %q appears twice in one object (keys are matched ignoring case)", truncate(k, 100))
				}
				fr.annotations = strings.EqualFold(k, "annotations")
				wantKey = false
			}
			i = end
		}
	}
	return nil
}

// keySet holds an object's keys: a short list, then a map of folded keys
// once the object has many.
type keySet struct {
	exact bool // compare keys exactly (a map), not ignoring case (a struct)
	list  []string
	set   map[string]bool
}

// add records k; false: k (or a key equal to it but for case) was there.
func (s *keySet) add(k string) bool {
	norm := func(k string) string {
		if s.exact {
			return k
		}
		return foldKey(k)
	}
	if s.set != nil {
		n := norm(k)
		if s.set[n] {
			return false
		}
		s.set[n] = true
		return true
	}
	for _, o := range s.list {
		if o == k || (!s.exact && strings.EqualFold(o, k)) {
			return false
		}
	}
	s.list = append(s.list, k)
	if len(s.list) > 16 {
		s.set = make(map[string]bool, 2*len(s.list))
		for _, o := range s.list {
			s.set[norm(o)] = true
		}
	}
	return true
}

// foldKey maps the keys strings.EqualFold (and so encoding/json) takes
// for one another to one string: each rune becomes the smallest rune of
// its simple case-folding orbit ("k", "K" and the Kelvin sign all "K").
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}
