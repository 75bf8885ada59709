package restapi

import (
	"context"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// robotCreator is Harbor's creator_type and creator_ref of a robot that p
// creates: "local" and the user's id for a user (local or LDAP, Basic or
// portal session), "robot" and the robot's id for a robot.
func robotCreator(p access.Principal) (string, int64) {
	if p.Kind == access.KindRobot {
		return meta.RobotCreatorRobot, p.ID
	}
	return meta.RobotCreatorUser, p.ID
}

// robotDuration is the duration in days a new robot gets: the one asked,
// or, when absent or 0, the robot_token_duration setting (Harbor's
// meaning of 0: the system default). -1 stays "never".
func (a *API) robotDuration(ctx context.Context, asked *int64) (*int64, error) {
	if asked != nil && *asked != 0 {
		return asked, nil
	}
	days := int64(settings.Defaults().RobotTokenDuration)
	if a.d.Settings != nil {
		cur, err := a.d.Settings.Get(ctx)
		if err != nil {
			return nil, err
		}
		days = int64(cur.RobotTokenDuration)
	}
	return &days, nil
}
