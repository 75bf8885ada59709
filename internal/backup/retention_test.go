package backup

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetentionKeep(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	// Two snapshots a day from Monday 2 to Sunday 15 November (two ISO weeks).
	var ms []Manifest
	for d := 2; d <= 15; d++ {
		for _, h := range []int{3, 15} {
			at := day(d, h)
			ms = append(ms, Manifest{ID: newID(at)[:16], CreatedAt: at})
		}
	}
	id := func(d, h int) string { return newID(day(d, h))[:16] }
	tests := []struct {
		name string
		r    Retention
		want []string
	}{
		{"nothing set keeps all", Retention{}, func() []string {
			var all []string
			for _, m := range ms {
				all = append(all, m.ID)
			}
			return all
		}()},
		{"last 3", Retention{Last: 3}, []string{id(14, 15), id(15, 3), id(15, 15)}},
		{"daily 2", Retention{Daily: 2}, []string{id(14, 15), id(15, 15)}},
		{"weekly 2", Retention{Weekly: 2}, []string{id(8, 15), id(15, 15)}},
		{"last 1 daily 3 weekly 2", Retention{Last: 1, Daily: 3, Weekly: 2}, []string{id(8, 15), id(13, 15), id(14, 15), id(15, 15)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep := tt.r.Keep(ms)
			var got []string
			for k := range keep {
				got = append(got, k)
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Keep (-want +got):\n%s", diff)
			}
		})
	}
	if keep := (Retention{Last: 1}).Keep(nil); len(keep) != 0 {
		t.Errorf("Keep(nil) = %v", keep)
	}
	// Two snapshots of one second: their ids' random tails sort against
	// their order, and the later one is the one kept.
	at := day(20, 3)
	same := []Manifest{
		{ID: "20261120T030000Z-ffffff", CreatedAt: at.Add(100 * time.Millisecond)},
		{ID: "20261120T030000Z-000000", CreatedAt: at.Add(900 * time.Millisecond)},
	}
	if keep := (Retention{Last: 1}).Keep(same); !keep[same[1].ID] || len(keep) != 1 {
		t.Errorf("Keep of two snapshots of one second = %v, want the later %s", keep, same[1].ID)
	}
}

func TestValueRoundTrip(t *testing.T) {
	ts := time.Date(2026, 12, 1, 23, 59, 58, 123456000, time.UTC)
	tests := []struct {
		name     string
		in       any
		from, to Kind
		want     any
	}{
		{"sqlite bool to postgres", int64(1), KindInt, KindBool, true},
		{"postgres bool to sqlite", true, KindBool, KindInt, int64(1)},
		{"time", ts, KindTime, KindTime, ts},
		{"sqlite text time", "2026-12-01 23:59:58.123456+00:00", KindTime, KindTime, ts},
		{"bytes", []byte{0, 1, 2, 255}, KindBytes, KindBytes, []byte{0, 1, 2, 255}},
		{"null", nil, KindText, KindText, nil},
		{"text", "héllo", KindText, KindText, "héllo"},
		{"big int", int64(1) << 62, KindInt, KindInt, int64(1) << 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := encodeValue(tt.in, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			// Through JSON as a snapshot file carries it.
			line, err := jsonLine([]any{enc})
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeValue(line[0], tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// jsonLine encodes a row and decodes it back as a table file's reader
// does (numbers as json.Number): for tests of the value encoding.
func jsonLine(row []any) ([]any, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out []any
	return out, dec.Decode(&out)
}
