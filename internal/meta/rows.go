package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// rowScanner is what *sql.Row and *sql.Rows have in common, so one scan
// function reads a row from either.
type rowScanner = interface{ Scan(...any) error }

// queryAll runs query on q and returns every row as scan reads it: a
// non-nil empty slice when there are none. Errors come back as they are;
// callers wrap them with their own message.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return queryAll(ctx, q, func(row rowScanner) (string, error) {
		var v string
		err := row.Scan(&v)
		return v, err
	}, query, args...)
}

// expectOne returns nil if res affected a row, and notFound if none.
func expectOne(res sql.Result, notFound error, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr(err, format, args...)
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// flexTime scans a nullable time that SQLite returns as text when it comes
// from an expression (an aggregate or subquery has no declared type), and
// PostgreSQL as a time.
type flexTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (f *flexTime) Scan(v any) error {
	f.Time, f.Valid = time.Time{}, false
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		f.Time, f.Valid = x.UTC(), true
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("meta: cannot scan %T as a time", v)
	}
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			f.Time, f.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("meta: cannot parse time %q", s)
}
