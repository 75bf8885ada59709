package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Labels is the label aggregate: Harbor's system-wide and project labels
// and their attachment to artifacts (manifests).
type Labels struct{ *handle }

// Errors of the label aggregate.
var (
	ErrLabelNotFound = errors.New("label not found")
	// ErrLabelExists: a label of that name exists in the same scope.
	ErrLabelExists = errors.New("label already exists")
	// ErrLabelAttached: the label is already on the artifact.
	ErrLabelAttached = errors.New("label already attached to the artifact")
	// ErrLabelNotAttached: the label is not on the artifact.
	ErrLabelNotAttached = errors.New("label not attached to the artifact")
)

// Label scopes, as Harbor names them.
const (
	LabelGlobal  = "g" // system-wide: every project may use it
	LabelProject = "p" // one project's
)

// Label is a Harbor label.
type Label struct {
	ID          int64
	Name        string
	Description string
	Color       string
	Scope       string // LabelGlobal or LabelProject
	ProjectID   int64  // 0 for a system-wide label
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LabelQuery filters ListLabels. Scope "" means LabelGlobal; with
// LabelProject, ProjectID names the project. Name, when set, keeps labels
// whose name contains it.
type LabelQuery struct {
	Scope     string
	ProjectID int64
	Name      string
}

// labelReturning is labelColumns without the alias, for RETURNING.
const labelReturning = `id, name, description, color, scope, COALESCE(project_id, 0), created_at, updated_at`

const labelColumns = `l.id, l.name, l.description, l.color, l.scope, COALESCE(l.project_id, 0), l.created_at, l.updated_at`

func scanLabel(row rowScanner) (Label, error) {
	var l Label
	err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Color, &l.Scope, &l.ProjectID, &l.CreatedAt, &l.UpdatedAt)
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, err
}

func labelProject(l Label) (any, error) {
	switch l.Scope {
	case LabelGlobal:
		return nil, nil
	case LabelProject:
		if l.ProjectID < 1 {
			return nil, fmt.Errorf("meta: project label %q without a project", l.Name)
		}
		return l.ProjectID, nil
	}
	return nil, fmt.Errorf("meta: label scope %q: want g or p", l.Scope)
}

// CreateLabel inserts l (ID and times are ignored) and returns the stored
// row. Name taken in its scope: ErrLabelExists; missing project:
// ErrProjectNotFound.
func (s *Labels) CreateLabel(ctx context.Context, l Label) (Label, error) {
	project, err := labelProject(l)
	if err != nil {
		return Label{}, err
	}
	var got Label
	err = s.inTx(ctx, func(tx *handle) error {
		if l.Scope == LabelProject {
			if _, err := tx.projects().GetProject(ctx, l.ProjectID); err != nil {
				return err
			}
		}
		got, err = scanLabel(tx.q.QueryRowContext(ctx, `
			INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT DO NOTHING
			RETURNING `+labelReturning, l.Name, l.Description, l.Color, l.Scope, project, tx.timestamp()))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("label %s: %w", l.Name, ErrLabelExists)
		case err != nil:
			return wrapErr(err, "meta: create label %s", l.Name)
		}
		return nil
	})
	return got, err
}

// GetLabel returns label id. Missing: ErrLabelNotFound.
func (s *Labels) GetLabel(ctx context.Context, id int64) (Label, error) {
	l, err := scanLabel(s.q.QueryRowContext(ctx, `SELECT `+labelColumns+` FROM labels AS l WHERE l.id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Label{}, fmt.Errorf("label %d: %w", id, ErrLabelNotFound)
	case err != nil:
		return Label{}, wrapErr(err, "meta: get label %d", id)
	}
	return l, nil
}

// ListLabels returns one page of the labels q selects, ordered by id, and
// how many there are in all.
func (s *Labels) ListLabels(ctx context.Context, q LabelQuery, pg Page) ([]Label, int, error) {
	var c conds
	switch q.Scope {
	case "", LabelGlobal:
		c.add("l.scope = 'g'")
	case LabelProject:
		c.add("l.scope = 'p'")
		c.add("l.project_id = " + c.arg(q.ProjectID))
	default:
		return nil, 0, fmt.Errorf("meta: label scope %q: want g or p", q.Scope)
	}
	if q.Name != "" {
		c.add(`lower(l.name) LIKE ` + c.arg(likePattern(q.Name)) + ` ESCAPE '\'`)
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM labels AS l`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list labels")
	}
	if pg.Limit <= 0 {
		return []Label{}, total, nil
	}
	limit, offset := c.arg(pg.Limit), c.arg(max(pg.Offset, 0))
	out, err := queryAll(ctx, s.q, scanLabel, `SELECT `+labelColumns+` FROM labels AS l`+c.sql()+
		` ORDER BY l.id LIMIT `+limit+` OFFSET `+offset, c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list labels")
	}
	return out, total, nil
}

// UpdateLabel sets the name, description and color of label l.ID (its
// scope and project never change) and returns the stored row. Missing:
// ErrLabelNotFound; name taken in its scope: ErrLabelExists.
func (s *Labels) UpdateLabel(ctx context.Context, l Label) (Label, error) {
	var got Label
	err := s.inTx(ctx, func(tx *handle) error {
		old, err := (&Labels{tx}).GetLabel(ctx, l.ID)
		if err != nil {
			return err
		}
		var clash int
		err = tx.q.QueryRowContext(ctx, `SELECT count(*) FROM labels WHERE name = $1 AND scope = $2
			AND COALESCE(project_id, 0) = $3 AND id <> $4`, l.Name, old.Scope, old.ProjectID, l.ID).Scan(&clash)
		if err != nil {
			return wrapErr(err, "meta: update label %d", l.ID)
		}
		if clash > 0 {
			return fmt.Errorf("label %s: %w", l.Name, ErrLabelExists)
		}
		got, err = scanLabel(tx.q.QueryRowContext(ctx, `UPDATE labels SET name = $2, description = $3, color = $4, updated_at = $5
			WHERE id = $1 RETURNING `+labelReturning, l.ID, l.Name, l.Description, l.Color, tx.timestamp()))
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("label %s: %w", l.Name, ErrLabelExists)
			}
			return wrapErr(err, "meta: update label %d", l.ID)
		}
		return nil
	})
	return got, err
}

// DeleteLabel deletes label id and detaches it from every artifact.
// Missing: ErrLabelNotFound.
func (s *Labels) DeleteLabel(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM artifact_labels WHERE label_id = $1`, id); err != nil {
			return wrapErr(err, "meta: delete label %d", id)
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM labels WHERE id = $1`, id)
		if err != nil {
			return wrapErr(err, "meta: delete label %d", id)
		}
		return expectOne(res, fmt.Errorf("label %d: %w", id, ErrLabelNotFound), "meta: delete label %d", id)
	})
}

// AttachLabel puts label labelID on artifact (manifest) manifestID.
// Missing label: ErrLabelNotFound; missing manifest: ErrManifestNotFound;
// already there: ErrLabelAttached. The caller checks that a project label
// belongs to the artifact's project.
func (s *Labels) AttachLabel(ctx context.Context, manifestID, labelID int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		if _, err := (&Labels{tx}).GetLabel(ctx, labelID); err != nil {
			return err
		}
		var one int
		err := tx.q.QueryRowContext(ctx, `SELECT 1 FROM manifests WHERE id = $1`, manifestID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("manifest %d: %w", manifestID, ErrManifestNotFound)
		case err != nil:
			return wrapErr(err, "meta: attach label %d", labelID)
		}
		res, err := tx.q.ExecContext(ctx, `INSERT INTO artifact_labels (manifest_id, label_id, created_at)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, manifestID, labelID, tx.timestamp())
		if err != nil {
			return wrapErr(err, "meta: attach label %d", labelID)
		}
		return expectOne(res, fmt.Errorf("label %d: %w", labelID, ErrLabelAttached), "meta: attach label %d", labelID)
	})
}

// DetachLabel takes label labelID off artifact manifestID. Not there:
// ErrLabelNotAttached.
func (s *Labels) DetachLabel(ctx context.Context, manifestID, labelID int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM artifact_labels WHERE manifest_id = $1 AND label_id = $2`, manifestID, labelID)
	if err != nil {
		return wrapErr(err, "meta: detach label %d", labelID)
	}
	return expectOne(res, fmt.Errorf("label %d: %w", labelID, ErrLabelNotAttached), "meta: detach label %d", labelID)
}

// maxIDsPerQuery bounds the ids one IN list carries.
const maxIDsPerQuery = 500

// ArtifactLabels returns the labels on each of the artifacts (manifest
// ids), ordered by label id; artifacts without labels are absent.
func (s *Labels) ArtifactLabels(ctx context.Context, manifestIDs []int64) (map[int64][]Label, error) {
	out := map[int64][]Label{}
	for chunk := range chunks(manifestIDs, maxIDsPerQuery) {
		var c conds
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			ph[i] = c.arg(id)
		}
		rows, err := s.q.QueryContext(ctx, `SELECT al.manifest_id, `+labelColumns+`
			FROM artifact_labels AS al JOIN labels AS l ON l.id = al.label_id
			WHERE al.manifest_id IN (`+strings.Join(ph, ", ")+`) ORDER BY al.manifest_id, l.id`, c.args...)
		if err != nil {
			return nil, wrapErr(err, "meta: labels of artifacts")
		}
		for rows.Next() {
			var id int64
			var l Label
			if err := rows.Scan(&id, &l.ID, &l.Name, &l.Description, &l.Color, &l.Scope, &l.ProjectID, &l.CreatedAt, &l.UpdatedAt); err != nil {
				rows.Close()
				return nil, wrapErr(err, "meta: labels of artifacts")
			}
			l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
			out[id] = append(out[id], l)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrapErr(err, "meta: labels of artifacts")
		}
	}
	return out, nil
}

// chunks yields ids in slices of at most n.
func chunks(ids []int64, n int) func(yield func([]int64) bool) {
	return func(yield func([]int64) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

// isUniqueViolation reports whether err is a unique constraint violation
// (a concurrent insert of the same name won).
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == 2067 || sqErr.Code() == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	return false
}
