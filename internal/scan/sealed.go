package scan

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/sealed"
)

// SealedStore is the scan store with the scanners' access credentials
// sealed at rest: written sealed, read in the clear (the scan service
// sends them; the API never shows them).
type SealedStore struct {
	*meta.Scans
	keys *sealed.Keyring
}

// NewSealedStore wraps st; keys seals and opens the credentials.
func NewSealedStore(st *meta.Scans, keys *sealed.Keyring) *SealedStore {
	return &SealedStore{Scans: st, keys: keys}
}

func (s *SealedStore) open(sc meta.Scanner, err error) (meta.Scanner, error) {
	if err != nil {
		return sc, err
	}
	v, err := s.keys.OpenStored(sc.AccessCredential)
	if err != nil {
		return sc, fmt.Errorf("scanner %s: access credential: %w", sc.UUID, err)
	}
	sc.AccessCredential = v
	return sc, nil
}

// CreateScanner stores sc with its credential sealed.
func (s *SealedStore) CreateScanner(ctx context.Context, sc meta.Scanner) (meta.Scanner, error) {
	plain := sc.AccessCredential
	v, err := s.keys.Seal(plain)
	if err != nil {
		return meta.Scanner{}, fmt.Errorf("scanner %q: seal access credential: %w", sc.Name, err)
	}
	sc.AccessCredential = v
	got, err := s.Scans.CreateScanner(ctx, sc)
	got.AccessCredential = plain
	return got, err
}

// UpdateScanner replaces sc with its credential sealed.
func (s *SealedStore) UpdateScanner(ctx context.Context, sc meta.Scanner) error {
	v, err := s.keys.Seal(sc.AccessCredential)
	if err != nil {
		return fmt.Errorf("scanner %q: seal access credential: %w", sc.Name, err)
	}
	sc.AccessCredential = v
	return s.Scans.UpdateScanner(ctx, sc)
}

// GetScanner returns a registration with its credential opened.
func (s *SealedStore) GetScanner(ctx context.Context, uuid string) (meta.Scanner, error) {
	return s.open(s.Scans.GetScanner(ctx, uuid))
}

// GetScannerByID returns a registration with its credential opened.
func (s *SealedStore) GetScannerByID(ctx context.Context, id int64) (meta.Scanner, error) {
	return s.open(s.Scans.GetScannerByID(ctx, id))
}

// ListScanners returns the registrations with their credentials opened.
func (s *SealedStore) ListScanners(ctx context.Context) ([]meta.Scanner, error) {
	ss, err := s.Scans.ListScanners(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ss {
		if ss[i], err = s.open(ss[i], nil); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// Reseal seals every credential stored in the clear or under an older
// key and returns how many it changed (compare and set: a registration
// changed meanwhile is left to its writer).
func (s *SealedStore) Reseal(ctx context.Context) (int, error) {
	ss, err := s.Scans.ListScanners(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sc := range ss {
		v, changed, err := s.keys.Reseal(sc.AccessCredential)
		if err != nil {
			return n, fmt.Errorf("scanner %s: reseal access credential: %w", sc.UUID, err)
		}
		if !changed {
			continue
		}
		ok, err := s.Scans.SwapScannerCredential(ctx, sc.UUID, sc.AccessCredential, v)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
