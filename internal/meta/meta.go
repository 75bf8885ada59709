// Package meta is Berth's metadata store: repositories, manifests (payload
// bytes included), tags, blobs, repository-to-blob links, manifest
// references, referrer subjects, upload sessions, users, robots, projects
// and members, the audit log and system settings.
//
// Store owns the connection (Open, Migrate, Ping, Close, InTx) and exposes
// the data as one small type per aggregate, as fields: Store.Repos
// (Repositories), Store.Manifests (manifests, referrers, tags, artifacts),
// Store.Blobs, Store.Uploads, Store.Users (accounts and the login
// throttle), Store.Robots, Store.Projects (projects, members, roles),
// Store.Audit and Store.Settings. They share one query handle (the pool or
// the transaction, the dialect, the clock): inside InTx every field runs on
// the transaction, so a change spanning aggregates is one transaction.
// Consumers declare the few methods they use of each aggregate; read models
// (counts, joins for the REST API) live with the aggregate they read.
//
// The database is the source of truth for metadata. Queries are written
// once in the SQL subset SQLite and PostgreSQL share ($1 placeholders,
// ON CONFLICT, RETURNING); DDL migrations are per dialect and embedded.
// This package never imports net/http.
package meta

import (
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors returned by the store types. Callers compare with errors.Is.
var (
	ErrRepositoryNotFound = errors.New("repository not found")
	ErrBlobNotFound       = errors.New("blob not found")
	ErrManifestNotFound   = errors.New("manifest not found")
	ErrTagNotFound        = errors.New("tag not found")
	ErrUploadNotFound     = errors.New("upload not found")
	// ErrUploadConflict: the session moved on (another request wrote to it)
	// since the caller read it.
	ErrUploadConflict = errors.New("upload modified concurrently")
	// ErrUnavailable wraps failures to reach the database (connection
	// refused, pool exhausted, deadline); the edge maps it to 503.
	ErrUnavailable = errors.New("metadata database unavailable")
)

// Repository is a named collection of manifests, tags and blob links.
type Repository struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Blob is a content-addressed byte sequence in the storage driver.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	MediaType string // as first seen in a manifest; may be empty
	// StorageKey is where the bytes live in the storage driver.
	StorageKey string
	CreatedAt  time.Time
}

// Manifest is a manifest stored in one repository; the payload is kept in
// the database exactly as pushed.
type Manifest struct {
	ID           int64
	RepositoryID int64
	Digest       digest.Digest
	MediaType    string
	ArtifactType string // artifactType, or the config media type for artifacts
	Payload      []byte
	// Size is len(Payload); set by the store (also when Payload is not loaded).
	Size int64
	// Subject is the digest of the manifest this one refers to (OCI 1.1
	// "subject"), or "".
	Subject digest.Digest
	// Annotations are the manifest's top-level annotations (for referrers).
	Annotations map[string]string
	CreatedAt   time.Time
}

// ManifestRefs lists what a manifest references in its repository.
type ManifestRefs struct {
	Blobs     []digest.Digest // config and layers
	Manifests []digest.Digest // children of an index / manifest list
}

// Upload is a resumable blob upload session.
type Upload struct {
	ID         string // UUID
	Repository string
	// Account is who opened the session (user or robot name); "" for
	// sessions from before it was recorded. Written by CreateUpload, not
	// read back.
	Account string
	// StorageKey is the key of the pending write in the storage driver.
	StorageKey string
	// Offset is the number of bytes received and hashed.
	Offset int64
	// Algorithm is the digest algorithm being computed ("sha256", "sha512").
	Algorithm string
	// HashState is the serialized hash state after Offset bytes
	// (encoding.BinaryMarshaler).
	HashState []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Tag names a manifest in a repository.
type Tag struct {
	Name      string
	Digest    digest.Digest
	UpdatedAt time.Time
}
