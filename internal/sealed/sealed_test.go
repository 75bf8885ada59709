package sealed

import (
	"strings"
	"testing"
)

// TestStoredValues: values stored before sealing open as they are and are
// sealed by Reseal; values under an older key are re-sealed; current ones
// are left alone.
func TestStoredValues(t *testing.T) {
	oldRing, err := NewKeyring([]byte(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyring([]byte(strings.Repeat("b", 32)), []byte(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	underOld, _ := oldRing.Seal("Bearer tok")
	current, _ := ring.Seal("Bearer tok")
	for _, tc := range []struct {
		name, stored string
		sealed       bool // IsSealed
		changes      bool // Reseal changes it
	}{
		{"empty", "", false, false},
		{"plain", "Bearer tok", false, true},
		{"plain that looks like a prefix", "v1:not-hex!:x", false, true},
		{"under an older key", underOld, true, true},
		{"current", current, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsSealed(tc.stored); got != tc.sealed {
				t.Fatalf("IsSealed(%q) = %v", tc.stored, got)
			}
			plain, err := ring.OpenStored(tc.stored)
			if err != nil {
				t.Fatal(err)
			}
			out, changed, err := ring.Reseal(tc.stored)
			if err != nil || changed != tc.changes {
				t.Fatalf("Reseal: changed %v, %v; want changed %v", changed, err, tc.changes)
			}
			if tc.stored != "" && (!IsSealed(out) || !ring.Current(out)) {
				t.Fatalf("Reseal gave %q, not sealed under the newest key", out)
			}
			if again, err := ring.OpenStored(out); err != nil || again != plain {
				t.Fatalf("resealed value opens to %q, %v; want %q", again, err, plain)
			}
		})
	}
}
