package meta

import "context"

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
