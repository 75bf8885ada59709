package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestRobots(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "ci"}))
		perms := []meta.RobotPermission{{Kind: "project", Namespace: "ci", Access: []meta.RobotAccess{
			{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"},
		}}}
		exp := t0.Add(24 * time.Hour)
		r := must[meta.Robot](t)(s.Robots.CreateRobot(ctx, meta.Robot{
			Name: "robot$ci+builder", Description: "CI", SecretHash: "h1", Level: meta.RobotProject,
			ProjectID: p.ID, Permissions: perms, ExpiresAt: exp,
		}))
		want := meta.Robot{
			ID: r.ID, Name: "robot$ci+builder", Description: "CI", SecretHash: "h1", Level: meta.RobotProject,
			ProjectID: p.ID, Permissions: perms, ExpiresAt: exp.UTC().Truncate(time.Microsecond),
			CreatedAt: t0us, UpdatedAt: t0us,
		}
		diff(t, "CreateRobot", want, r)
		diff(t, "GetRobot", want, must[meta.Robot](t)(s.Robots.GetRobot(ctx, r.ID)))
		diff(t, "GetRobotByName", want, must[meta.Robot](t)(s.Robots.GetRobotByName(ctx, "robot$ci+builder")))

		sys := must[meta.Robot](t)(s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$mirror", SecretHash: "h2", Level: meta.RobotSystem}))
		if !sys.ExpiresAt.IsZero() || sys.ProjectID != 0 || len(sys.Permissions) != 0 {
			t.Errorf("system robot = %+v, want no expiry, project or permissions", sys)
		}
		if _, err := s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$mirror", SecretHash: "h", Level: meta.RobotSystem}); !errors.Is(err, meta.ErrRobotExists) {
			t.Errorf("CreateRobot(taken) err = %v, want ErrRobotExists", err)
		}
		if _, err := s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$x+y", SecretHash: "h", Level: meta.RobotProject, ProjectID: 999}); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("CreateRobot(missing project) err = %v, want ErrProjectNotFound", err)
		}

		c.Advance(time.Minute)
		upd := r
		upd.Description, upd.Disabled, upd.ExpiresAt = "CI v2", true, time.Time{}
		upd.Permissions = perms[:1]
		want.Description, want.Disabled, want.ExpiresAt, want.UpdatedAt = "CI v2", true, time.Time{}, t0us.Add(time.Minute)
		diff(t, "UpdateRobot", want, must[meta.Robot](t)(s.Robots.UpdateRobot(ctx, upd)))
		check(t, s.Robots.SetRobotSecretHash(ctx, r.ID, "h3"))
		if got := must[meta.Robot](t)(s.Robots.GetRobot(ctx, r.ID)); got.SecretHash != "h3" {
			t.Errorf("secret hash = %q after SetRobotSecretHash", got.SecretHash)
		}

		tests := []struct {
			name string
			f    meta.RobotFilter
			want []string
		}{
			{"all", meta.RobotFilter{}, []string{"robot$ci+builder", "robot$mirror"}},
			{"system", meta.RobotFilter{Level: meta.RobotSystem}, []string{"robot$mirror"}},
			{"project", meta.RobotFilter{ProjectID: p.ID}, []string{"robot$ci+builder"}},
			{"name", meta.RobotFilter{Name: "MIRR"}, []string{"robot$mirror"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rs, total, err := s.Robots.ListRobots(ctx, tt.f, meta.Page{Limit: 10})
				check(t, err)
				names := []string{}
				for _, r := range rs {
					names = append(names, r.Name)
				}
				diff(t, "ListRobots", tt.want, names)
				if total != len(tt.want) {
					t.Errorf("total = %d, want %d", total, len(tt.want))
				}
			})
		}

		check(t, s.Robots.DeleteRobot(ctx, sys.ID))
		for name, err := range map[string]error{
			"GetRobot(deleted)":      func() error { _, err := s.Robots.GetRobot(ctx, sys.ID); return err }(),
			"GetRobotByName(absent)": func() error { _, err := s.Robots.GetRobotByName(ctx, "robot$nope"); return err }(),
			"UpdateRobot(absent)":    func() error { _, err := s.Robots.UpdateRobot(ctx, meta.Robot{ID: 999}); return err }(),
			"SetRobotSecretHash":     s.Robots.SetRobotSecretHash(ctx, 999, "h"),
			"DeleteRobot(absent)":    s.Robots.DeleteRobot(ctx, sys.ID),
		} {
			if !errors.Is(err, meta.ErrRobotNotFound) {
				t.Errorf("%s err = %v, want ErrRobotNotFound", name, err)
			}
		}
		// Deleting the project deletes its robots.
		check(t, s.Projects.DeleteProject(ctx, p.ID))
		if _, err := s.Robots.GetRobot(ctx, r.ID); !errors.Is(err, meta.ErrRobotNotFound) {
			t.Errorf("robot after DeleteProject err = %v, want ErrRobotNotFound", err)
		}
	})
}
