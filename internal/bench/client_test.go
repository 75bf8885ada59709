package bench

import (
	"encoding/json"
	"testing"
)

// TestCountedList: the listing client counts a list's entries as
// decoding it would, whatever they hold.
func TestCountedList(t *testing.T) {
	cases := []struct {
		body string
		want int
	}{
		{`{"tags":[]}`, 0},
		{`{"tags":[ ]}`, 0},
		{`{"tags":null}`, 0},
		{`{"name":"a","tags":["v1"]}`, 1},
		{`{"tags":["v1","v2","v3"],"name":"x"}`, 3},
		{`{"tags":[ "a" , "b" ]}`, 2},
		{`{"tags":["a,b","c\"],[d","e\\"]}`, 3},
		{`{"tags":[[1,2],{"k":[3,4]},5]}`, 3},
		{`{"tags":[[]]}`, 1},
		{`{"repositories":["library/a","library/b"]}`, 2},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			var got map[string]countedList
			if err := json.Unmarshal([]byte(tc.body), &got); err != nil {
				t.Fatal(err)
			}
			field := "tags"
			if _, ok := got["repositories"]; ok {
				field = "repositories"
			}
			if int(got[field]) != tc.want {
				t.Errorf("%d entries, want %d", got[field], tc.want)
			}
			var full map[string]any
			_ = json.Unmarshal([]byte(tc.body), &full)
			if l, ok := full[field].([]any); ok && len(l) != tc.want {
				t.Fatalf("case is wrong: encoding/json finds %d", len(l))
			}
		})
	}
	var got map[string]countedList
	if err := json.Unmarshal([]byte(`{"tags":["a",]}`), &got); err == nil {
		t.Error("a malformed body was accepted")
	}
}
