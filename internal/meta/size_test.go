package meta_test

import (
	"reflect"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// maxStoreMethods bounds the exported methods of each aggregate store type
// (issue 15: no store grows back into one 75-method type).
const maxStoreMethods = 20

// maxLifecycleMethods bounds Store itself: Open gives it, and it keeps only
// Close, Ping, Migrate, DB, Dialect and InTx; data methods go on an
// aggregate.
const maxLifecycleMethods = 6

// aggregates returns the aggregate fields of Store (its exported pointer
// fields).
func aggregates(t *testing.T) []reflect.StructField {
	t.Helper()
	st := reflect.TypeFor[meta.Store]()
	var out []reflect.StructField
	for i := range st.NumField() {
		f := st.Field(i)
		if f.IsExported() && !f.Anonymous && f.Type.Kind() == reflect.Pointer {
			out = append(out, f)
		}
	}
	if len(out) < 9 {
		t.Fatalf("found %d aggregate fields on meta.Store, want at least 9", len(out))
	}
	return out
}

func TestStoreTypesStaySmall(t *testing.T) {
	for _, f := range aggregates(t) {
		if n := f.Type.NumMethod(); n > maxStoreMethods {
			t.Errorf("%s (Store.%s) has %d exported methods, want at most %d: split the aggregate",
				f.Type.Elem().Name(), f.Name, n, maxStoreMethods)
		}
	}
	if n := reflect.TypeFor[*meta.Store]().NumMethod(); n > maxLifecycleMethods {
		t.Errorf("Store has %d exported methods, want at most %d: put data methods on an aggregate",
			n, maxLifecycleMethods)
	}
}

// TestAggregatesSet: an opened Store and the Store inside InTx have every
// aggregate field set.
func TestAggregatesSet(t *testing.T) {
	s := metatest.OpenSQLite(t)
	fields := aggregates(t)
	checkSet := func(what string, s *meta.Store) {
		v := reflect.ValueOf(s).Elem()
		for _, f := range fields {
			if v.FieldByIndex(f.Index).IsNil() {
				t.Errorf("%s: Store.%s is nil", what, f.Name)
			}
		}
	}
	checkSet("Open", s)
	check(t, s.InTx(t.Context(), func(tx *meta.Store) error {
		checkSet("InTx", tx)
		return nil
	}))
}
