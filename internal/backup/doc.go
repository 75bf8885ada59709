// Package backup makes, checks and restores Berth backups: a consistent
// snapshot of the metadata database, read in one read transaction and
// written in a portable, dialect-independent format (gzip JSON lines per
// table and a manifest), plus the blobs it references, stored
// content-addressed in a backup repository (any storage.Driver: a
// directory or an S3 prefix) and verified against their digest while they
// are copied. docs/backup.md describes the format and the guarantees.
//
// The package knows nothing about the meaning of most tables: it reads the
// schema of the database it is given (tables, columns, foreign keys) and
// copies every table but the few that hold state a restore must not bring
// back (upload sessions in flight, login throttling, GC leases, the job
// queue, migrations bookkeeping). It does know the blob table: which rows
// need an object, and where a restore puts it.
//
// It imports no other Berth package but storage and version; internal/app
// opens the database and the drivers and passes them in.
package backup
