package meta_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestRobotCreator: a robot's creator (Harbor's creator_type and
// creator_ref, migration 00006) is stored, read back and kept by updates;
// a robot created without one reads as "" and 0.
func TestRobotCreator(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		byUser := must[meta.Robot](t)(s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$a", SecretHash: "h", Level: meta.RobotSystem,
			CreatorType: meta.RobotCreatorUser, CreatorRef: 7}))
		byRobot := must[meta.Robot](t)(s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$b", SecretHash: "h", Level: meta.RobotSystem,
			CreatorType: meta.RobotCreatorRobot, CreatorRef: byUser.ID}))
		unknown := must[meta.Robot](t)(s.Robots.CreateRobot(ctx, meta.Robot{Name: "robot$c", SecretHash: "h", Level: meta.RobotSystem}))
		byUser.Description = "changed"
		must[meta.Robot](t)(s.Robots.UpdateRobot(ctx, byUser))
		for _, tc := range []struct {
			id      int64
			typ     string
			ref     int64
			message string
		}{
			{byUser.ID, "local", 7, "created by a user, then updated"},
			{byRobot.ID, "robot", byUser.ID, "created by a robot"},
			{unknown.ID, "", 0, "created without a creator"},
		} {
			got := must[meta.Robot](t)(s.Robots.GetRobot(ctx, tc.id))
			if got.CreatorType != tc.typ || got.CreatorRef != tc.ref {
				t.Errorf("%s: creator %q %d, want %q %d", tc.message, got.CreatorType, got.CreatorRef, tc.typ, tc.ref)
			}
		}
	})
}
