package meta

import "database/sql"

// DB returns the store's connection pool, for libraries that keep their own
// tables in the metadata database (River's job queue). Inside InTx it is nil.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect names the engine behind the store: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect.String() }
