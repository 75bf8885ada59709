package backup

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// Dialects a backup reads from and restores into.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// skipTable reports whether a table's rows stay out of a snapshot: state
// of the running system that a restore must not bring back.
func skipTable(name string) bool {
	switch name {
	case "goose_db_version", // migrations bookkeeping (the target migrates itself)
		"uploads",        // upload sessions in flight: their partial data is not backed up
		"login_failures", // login throttling windows
		"gc_leases",      // leases of backups running on the source
		"backup_runs",    // the source's backup history
		"backup_schedule":
		return true
	}
	return strings.HasPrefix(name, "river_") || strings.HasPrefix(name, "sqlite_")
}

// column is a column of a live table.
type column struct {
	Name     string
	Kind     Kind
	Identity bool // PostgreSQL identity or serial column: its sequence is reset after a restore
	Always   bool // PostgreSQL GENERATED ALWAYS AS IDENTITY: inserts need OVERRIDING SYSTEM VALUE
}

// table is a live table and the tables it refers to.
type table struct {
	Name    string
	Columns []column
	Refs    []string
}

// readSchema lists the database's tables (those a snapshot holds), in
// restore order: every table after the tables it refers to.
func readSchema(ctx context.Context, q queryer, dialect string) ([]table, error) {
	var names []string
	var err error
	switch dialect {
	case DialectSQLite:
		names, err = strs(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	case DialectPostgres:
		names, err = strs(ctx, q, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	default:
		return nil, fmt.Errorf("backup: unknown dialect %q", dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	var tables []table
	for _, n := range names {
		if skipTable(n) {
			continue
		}
		t := table{Name: n}
		if t.Columns, err = readColumns(ctx, q, dialect, n); err != nil {
			return nil, err
		}
		if t.Refs, err = readRefs(ctx, q, dialect, n); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return order(tables)
}

func readColumns(ctx context.Context, q queryer, dialect, name string) ([]column, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if dialect == DialectSQLite {
		rows, err = q.QueryContext(ctx, `SELECT name, type, '', '', hidden FROM pragma_table_xinfo($1) ORDER BY cid`, name)
	} else {
		rows, err = q.QueryContext(ctx, `SELECT column_name, data_type, COALESCE(identity_generation, ''), COALESCE(column_default, ''),
			CASE WHEN is_generated = 'ALWAYS' THEN 1 ELSE 0 END
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1
			ORDER BY ordinal_position`, name)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: columns of %s: %w", name, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var (
			c                 column
			typ, ident, deflt string
			hidden            int
		)
		if err := rows.Scan(&c.Name, &typ, &ident, &deflt, &hidden); err != nil {
			return nil, fmt.Errorf("backup: columns of %s: %w", name, err)
		}
		if hidden != 0 { // generated columns are computed, not stored
			continue
		}
		c.Kind = kindOf(typ)
		c.Identity = ident != "" || strings.HasPrefix(deflt, "nextval(")
		c.Always = ident == "ALWAYS"
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backup: columns of %s: %w", name, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("backup: table %s has no columns", name)
	}
	return cols, nil
}

func readRefs(ctx context.Context, q queryer, dialect, name string) ([]string, error) {
	var (
		refs []string
		err  error
	)
	if dialect == DialectSQLite {
		refs, err = strs(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list($1)`, name)
	} else {
		refs, err = strs(ctx, q, `SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints AS tc
			JOIN information_schema.constraint_column_usage AS ccu
			  ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema
			WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() AND tc.table_name = $1`, name)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: foreign keys of %s: %w", name, err)
	}
	return refs, nil
}

// order sorts tables so that each comes after the tables it refers to
// (references to itself or to tables outside the list are ignored).
func order(tables []table) ([]table, error) {
	byName := map[string]table{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	var (
		out   []table
		state = map[string]int{} // 1 visiting, 2 done
		visit func(n string) error
	)
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("backup: foreign keys form a cycle through %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		t := byName[n]
		refs := slices.Clone(t.Refs)
		slices.Sort(refs)
		for _, r := range refs {
			if _, ok := byName[r]; ok && r != n {
				if err := visit(r); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		out = append(out, t)
		return nil
	}
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// schemaVersion is the last migration applied to the database.
func schemaVersion(ctx context.Context, q queryer) (int64, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("backup: schema version: %w", err)
	}
	return v.Int64, nil
}

func strs(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// quoteIdent quotes an identifier for both engines.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
