package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// BackupService is the backup history as /system/backups (a Berth
// addition) uses it; internal/app builds it over meta.Backups.
type BackupService interface {
	ListRuns(ctx context.Context, pg meta.Page) ([]meta.BackupRun, int, error)
	GetRun(ctx context.Context, id int64) (meta.BackupRun, error)
	// Trigger records a run for the backup job to start
	// (ErrBackupNotConfigured without backup.location).
	Trigger(ctx context.Context) (meta.BackupRun, error)
}

// ErrBackupNotConfigured: POST /system/backups with no backup.location.
var ErrBackupNotConfigured = errors.New("backup.location is not configured: no backup can run")

// resourceBackup is held by system administrators only.
const resourceBackup access.Resource = "backup"

func (a *API) backupRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/system/backups", a.listBackups)
	a.handle(mux, "POST "+Prefix+"/system/backups", a.triggerBackup)
	a.handle(mux, "GET "+Prefix+"/system/backups/{backup_id}", a.getBackup)
}

// backupJSON is a run. Location is a directory or s3://bucket/prefix;
// credentials are never part of it.
type backupJSON struct {
	ID              int64     `json:"id"`
	Kind            string    `json:"job_kind"`
	Status          string    `json:"job_status"`
	Location        string    `json:"location"`
	SnapshotID      string    `json:"snapshot_id"`
	Manifests       int64     `json:"manifests"`
	Tags            int64     `json:"tags"`
	Blobs           int64     `json:"blobs"`
	BlobsCopied     int64     `json:"blobs_copied"`
	Bytes           int64     `json:"bytes"`
	BytesCopied     int64     `json:"bytes_copied"`
	SnapshotsPruned int64     `json:"snapshots_pruned"`
	DurationSeconds float64   `json:"duration_seconds"`
	Error           string    `json:"error,omitempty"`
	CreationTime    time.Time `json:"creation_time"`
	UpdateTime      time.Time `json:"update_time"`
}

func backupRunJSON(r meta.BackupRun) backupJSON {
	return backupJSON{ID: r.ID, Kind: r.Kind, Status: r.Status, Location: r.Location, SnapshotID: r.SnapshotID,
		Manifests: r.Manifests, Tags: r.Tags, Blobs: r.Blobs, BlobsCopied: r.BlobsCopied, Bytes: r.Bytes,
		BytesCopied: r.BytesCopied, SnapshotsPruned: r.Pruned, DurationSeconds: r.Duration.Seconds(), Error: r.Error,
		CreationTime: r.CreatedAt, UpdateTime: r.UpdatedAt}
}

func (a *API) backupService(r *http.Request, act access.Action) (BackupService, error) {
	if err := requireSystem(r, resourceBackup, act); err != nil {
		return nil, err
	}
	if a.d.Backups == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "backups are not available")
	}
	return a.d.Backups, nil
}

// listBackups is GET /system/backups: the runs, newest first.
func (a *API) listBackups(w http.ResponseWriter, r *http.Request) error {
	b, err := a.backupService(r, access.ActionList)
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	runs, total, err := b.ListRuns(r.Context(), p.meta())
	if err != nil {
		return err
	}
	out := make([]backupJSON, len(runs))
	for i, run := range runs {
		out[i] = backupRunJSON(run)
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// getBackup is GET /system/backups/{backup_id}.
func (a *API) getBackup(w http.ResponseWriter, r *http.Request) error {
	b, err := a.backupService(r, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("backup_id"), 10, 64)
	if err != nil || id < 1 {
		return errBadRequest("backup_id must be a positive integer")
	}
	run, err := b.GetRun(r.Context(), id)
	if errors.Is(err, meta.ErrBackupRunNotFound) {
		return newError(codeNotFound, http.StatusNotFound, "backup run %d not found", id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, backupRunJSON(run))
}

// triggerBackup is POST /system/backups: a backup to backup.location now
// (queued for the backup job; 201 with its Location).
func (a *API) triggerBackup(w http.ResponseWriter, r *http.Request) error {
	b, err := a.backupService(r, access.ActionCreate)
	if err != nil {
		return err
	}
	run, err := b.Trigger(r.Context())
	if errors.Is(err, ErrBackupNotConfigured) {
		return errBadRequest("%s", err.Error())
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/system/backups/"+strconv.FormatInt(run.ID, 10))
	return writeJSON(w, http.StatusCreated, backupRunJSON(run))
}
