package meta

import (
	"fmt"
	"strings"
	"time"
)

// Page selects a slice of a listing: Limit rows after skipping Offset.
// A Limit <= 0 returns no rows (only the total).
type Page struct {
	Offset int
	Limit  int
}

// likePattern makes a LIKE pattern matching s anywhere, with s's own
// wildcards escaped (ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// micro is t in UTC at the microsecond precision both engines keep, so that
// comparisons give the same answer on both.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime is t for a nullable timestamp column: NULL when t is zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micro(t)
}

// conds builds a WHERE clause with numbered placeholders.
type conds struct {
	where []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (c *conds) arg(v any) string {
	c.args = append(c.args, v)
	return fmt.Sprintf("$%d", len(c.args))
}

func (c *conds) add(cond string) { c.where = append(c.where, cond) }

func (c *conds) sql() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

// isViewer is a condition on the project_members row alias: the row
// names v or one of its groups.
func (c *conds) isViewer(alias string, v Viewer) string {
	or := []string{alias + ".user_id = " + c.arg(v.UserID)}
	if dns := normalizeDNs(v.GroupDNs); len(dns) > 0 {
		ph := make([]string, len(dns))
		for i, d := range dns {
			ph[i] = c.arg(d)
		}
		or = append(or, alias+".group_dn IN ("+strings.Join(ph, ", ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// memberOf is a condition on column projectCol: a project where v or one
// of its groups is a member.
func (c *conds) memberOf(projectCol string, v Viewer) string {
	return projectCol + " IN (SELECT m.project_id FROM project_members AS m WHERE " + c.isViewer("m", v) + ")"
}

// Visibility says which projects a caller may see: the public ones, those
// where Viewer (a user, through itself or its groups) is a member, and
// those named in Projects (a robot's scopes). All: every project.
type Visibility struct {
	Viewer   Viewer
	Projects []string
	All      bool
}

// visible adds the condition "project column projectCol/nameCol is
// visible under v" and returns it.
func (c *conds) visible(idCol, nameCol, publicCol string, v Visibility) string {
	if v.All {
		return "1 = 1"
	}
	or := []string{publicCol + " = " + c.arg(true)}
	if v.Viewer.UserID != 0 || len(v.Viewer.GroupDNs) > 0 {
		or = append(or, c.memberOf(idCol, v.Viewer))
	}
	if len(v.Projects) > 0 {
		ph := make([]string, len(v.Projects))
		for i, p := range v.Projects {
			ph[i] = c.arg(p)
		}
		or = append(or, nameCol+" IN ("+strings.Join(ph, ", ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}
