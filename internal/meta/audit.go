package meta

import (
	"context"
	"strings"
	"time"
)

// Audit results.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
)

// AuditLog records who did what, when, from where, and whether it worked.
type AuditLog struct {
	ID           int64
	OpTime       time.Time
	Username     string // "anonymous" for unauthenticated callers
	Operation    string // e.g. "login", "pull", "push", "delete", "create"
	ResourceType string // e.g. "user", "repository", "artifact", "member", "robot"
	Resource     string // e.g. "library/app:1.0", "alice"
	// ProjectID is the project the entry is about; 0 for none (logins,
	// users, settings, system robots). A project's log filters on it.
	ProjectID int64
	ClientIP  string
	Result    string // AuditSuccess or AuditFailure
}

// Audit is the audit log.
type Audit struct{ *handle }

// AddAuditLog appends a. A zero OpTime means now (the store's clock).
func (s *Audit) AddAuditLog(ctx context.Context, a AuditLog) error {
	t := micro(a.OpTime)
	if a.OpTime.IsZero() {
		t = s.timestamp()
	}
	if a.Result == "" {
		a.Result = AuditSuccess
	}
	if _, err := s.q.ExecContext(ctx, `
		INSERT INTO audit_logs (op_time, username, operation, resource_type, resource, client_ip, result, project_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t, a.Username, a.Operation, a.ResourceType, a.Resource, a.ClientIP, a.Result, a.ProjectID); err != nil {
		return wrapErr(err, "meta: add audit log")
	}
	return nil
}

// AddAuditLogs appends as in one transaction (one commit for the batch:
// the audit writer's queue drains without an fsync per entry).
func (s *Audit) AddAuditLogs(ctx context.Context, as []AuditLog) error {
	return s.inTx(ctx, func(tx *handle) error {
		for _, a := range as {
			if err := (&Audit{tx}).AddAuditLog(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditFilter narrows ListAuditLogs. Zero fields match everything.
type AuditFilter struct {
	Username     string // exact
	Operation    string // exact
	ResourceType string // exact
	// Resource matches a substring, case-insensitively for ASCII.
	Resource string
	// From and To bound OpTime (inclusive) when not zero.
	From, To time.Time
	// ProjectIDs, when not nil, keeps the entries about these projects (by
	// AuditLog.ProjectID, never by name). An empty, non-nil list matches
	// nothing.
	ProjectIDs []int64
}

// ListAuditLogs returns one page of the entries matching f, newest first,
// and how many match in all.
func (s *Audit) ListAuditLogs(ctx context.Context, f AuditFilter, p Page) ([]AuditLog, int, error) {
	var c conds
	for _, eq := range []struct{ col, v string }{
		{"username", f.Username}, {"operation", f.Operation}, {"resource_type", f.ResourceType},
	} {
		if eq.v != "" {
			c.add(eq.col + " = " + c.arg(eq.v))
		}
	}
	if f.Resource != "" {
		c.add(`lower(resource) LIKE ` + c.arg(likePattern(f.Resource)) + ` ESCAPE '\'`)
	}
	if !f.From.IsZero() {
		c.add("op_time >= " + c.arg(micro(f.From)))
	}
	if !f.To.IsZero() {
		c.add("op_time <= " + c.arg(micro(f.To)))
	}
	if f.ProjectIDs != nil {
		in := []string{}
		for _, id := range f.ProjectIDs {
			if id > 0 {
				in = append(in, c.arg(id))
			}
		}
		if len(in) == 0 {
			c.add("1 = 0")
		} else {
			c.add("project_id IN (" + strings.Join(in, ", ") + ")")
		}
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM audit_logs`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list audit logs")
	}
	if p.Limit <= 0 {
		return []AuditLog{}, total, nil
	}
	q := `SELECT id, op_time, username, operation, resource_type, resource, client_ip, result, project_id
		FROM audit_logs` + c.sql() + ` ORDER BY op_time DESC, id DESC LIMIT ` + c.arg(p.Limit) + ` OFFSET ` + c.arg(max(p.Offset, 0))
	out, err := queryAll(ctx, s.q, func(row rowScanner) (AuditLog, error) {
		var a AuditLog
		if err := row.Scan(&a.ID, &a.OpTime, &a.Username, &a.Operation, &a.ResourceType, &a.Resource, &a.ClientIP, &a.Result, &a.ProjectID); err != nil {
			return AuditLog{}, err
		}
		a.OpTime = a.OpTime.UTC()
		return a, nil
	}, q, c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list audit logs")
	}
	return out, total, nil
}

// PurgeAuditLogs deletes entries older than before and returns how many
// (for a retention job).
func (s *Audit) PurgeAuditLogs(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM audit_logs WHERE op_time < $1`, micro(before))
	if err != nil {
		return 0, wrapErr(err, "meta: purge audit logs")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapErr(err, "meta: purge audit logs")
	}
	return n, nil
}
