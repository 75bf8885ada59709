package webui

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/meta"
)

// labelStore is meta.Labels as the labels page uses it.
type labelStore interface {
	CreateLabel(ctx context.Context, l meta.Label) (meta.Label, error)
	GetLabel(ctx context.Context, id int64) (meta.Label, error)
	ListLabels(ctx context.Context, q meta.LabelQuery, pg meta.Page) ([]meta.Label, int, error)
	DeleteLabel(ctx context.Context, id int64) error
	// ArtifactLabels: the artifact pages' labels (artifact_lifecycle.go).
	ArtifactLabels(ctx context.Context, manifestIDs []int64) (map[int64][]meta.Label, error)
}

func (u *UI) labelRoutes() {
	u.handle("GET /admin/labels", u.labelsPage)
	u.handle("POST /admin/labels", u.createLabel)
	u.handle("POST /admin/labels/{lid}/delete", u.deleteLabel)
}

// labelsView is the system labels page.
type labelsView struct {
	Labels   []meta.Label
	Paging   paging
	ErrorKey string
	Detail   string
}

// colorRE is the colors the page accepts: #rgb or #rrggbb.
var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// labelsPage is GET /admin/labels: the system-wide labels (system
// administrators).
func (u *UI) labelsPage(c *call) error {
	if err := u.labelsAllowed(c); err != nil {
		return err
	}
	return u.renderLabels(c, http.StatusOK, labelsView{})
}

func (u *UI) labelsAllowed(c *call) error {
	if u.d.Labels == nil {
		return errNotFound
	}
	return requireAdmin(c)
}

func (u *UI) renderLabels(c *call, status int, v labelsView) error {
	pg := pagingOf(c.r)
	ls, total, err := u.d.Labels.ListLabels(c.r.Context(), meta.LabelQuery{Scope: meta.LabelGlobal}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v.Labels, v.Paging = ls, pg
	u.render(c, status, "admin_labels", "labels.title", v)
	return nil
}

// createLabel is POST /admin/labels with name, color (#rgb or #rrggbb,
// optional) and description.
func (u *UI) createLabel(c *call) error {
	if err := u.labelsAllowed(c); err != nil {
		return err
	}
	f := c.r.PostForm
	l := meta.Label{Name: strings.TrimSpace(f.Get("name")), Color: strings.TrimSpace(f.Get("color")),
		Description: strings.TrimSpace(f.Get("description")), Scope: meta.LabelGlobal}
	if l.Name == "" || utf8.RuneCountInString(l.Name) > 128 || len(l.Description) > 1024 || (l.Color != "" && !colorRE.MatchString(l.Color)) {
		return u.renderLabels(c, http.StatusBadRequest, labelsView{ErrorKey: "labels.err.form"})
	}
	if _, err := u.d.Labels.CreateLabel(c.r.Context(), l); errors.Is(err, meta.ErrLabelExists) {
		return u.renderLabels(c, http.StatusConflict, labelsView{ErrorKey: "labels.err.exists", Detail: l.Name})
	} else if err != nil {
		return err
	}
	u.auditSystem(c, "create", "label", l.Name)
	return redirect(c, "/admin/labels")
}

// deleteLabel is POST /admin/labels/{lid}/delete (system labels only).
func (u *UI) deleteLabel(c *call) error {
	if err := u.labelsAllowed(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("lid"), 10, 64)
	if err != nil || id < 1 {
		return errBadForm
	}
	l, err := u.d.Labels.GetLabel(c.r.Context(), id)
	if errors.Is(err, meta.ErrLabelNotFound) || (err == nil && l.Scope != meta.LabelGlobal) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if err := u.d.Labels.DeleteLabel(c.r.Context(), id); err != nil && !errors.Is(err, meta.ErrLabelNotFound) {
		return err
	}
	u.auditSystem(c, "delete", "label", l.Name)
	return redirect(c, "/admin/labels")
}
