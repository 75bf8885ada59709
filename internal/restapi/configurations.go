package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/settings"
)

// Settings is the system settings service (*settings.Service) as the API
// uses it.
type Settings interface {
	// Get returns the settings in force (cached for a few seconds).
	Get(ctx context.Context) (settings.Settings, error)
	// Update validates and stores changes (key to stored-form value) and
	// returns the new settings and the keys whose value changed. Errors:
	// settings.ErrInvalid, or the store's.
	Update(ctx context.Context, changes map[string]string) (settings.Settings, []string, error)
}

// errNoSettings: the API was built without a settings service.
var errNoSettings = newError(codeUnavailable, http.StatusServiceUnavailable, "system settings are not available")

func (a *API) currentSettings(ctx context.Context) (settings.Settings, error) {
	if a.d.Settings == nil {
		return settings.Settings{}, errNoSettings
	}
	return a.d.Settings.Get(ctx)
}

// configItem is Harbor's StringConfigItem, IntegerConfigItem and
// BoolConfigItem: {"value": ..., "editable": ...}.
type configItem struct {
	Value    any  `json:"value"`
	Editable bool `json:"editable"`
}

// getConfigurations is GET /configurations (system administrators): every
// setting as {"value", "editable"}, secrets (ldap_search_password) left
// out as Harbor does.
func (a *API) getConfigurations(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceConfiguration, access.ActionRead); err != nil {
		return err
	}
	cur, err := a.currentSettings(r.Context())
	if err != nil {
		return err
	}
	out := map[string]configItem{}
	for _, k := range settings.Keys() {
		if k.Secret {
			continue
		}
		v, err := jsonValue(k, cur.Value(k))
		if err != nil {
			return err
		}
		out[k.Name] = configItem{Value: v, Editable: !k.ReadOnly}
	}
	return writeJSON(w, http.StatusOK, out)
}

// jsonValue turns a stored value into its JSON type.
func jsonValue(k settings.Key, v string) (any, error) {
	switch k.Kind {
	case settings.KindInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("configuration %s: stored value %q: %w", k.Name, v, err)
		}
		return n, nil
	case settings.KindBool:
		return v == "true", nil
	}
	return v, nil
}

// updateConfigurations is PUT /configurations (system administrators)
// with Harbor's flat body, {"auth_mode": "ldap_auth", "ldap_url": ...}.
// Keys left out keep their value; unknown keys, values of the wrong JSON
// type and settings that would not work are refused (400) with every
// problem named, and nothing changes. The replica answering applies the
// change at once, the others within a few seconds.
func (a *API) updateConfigurations(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceConfiguration, access.ActionUpdate); err != nil {
		return err
	}
	if a.d.Settings == nil {
		return errNoSettings
	}
	var raw map[string]json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		return err
	}
	changes := map[string]string{}
	var problems []string
	for name, v := range raw {
		k, ok := settings.LookupKey(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown configuration key", truncate(name, 80)))
			continue
		}
		s, err := storedValue(k, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		changes[name] = s
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errBadRequest("%s", strings.Join(problems, "; "))
	}
	_, changed, err := a.d.Settings.Update(r.Context(), changes)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		// Key names only: values may be secret.
		a.auditEvent(r, 0, "update", auditConfiguration, strings.Join(changed, ","))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// storedValue checks that v has k's JSON type and returns its stored form.
func storedValue(k settings.Key, v json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "", err
	}
	switch k.Kind {
	case settings.KindString:
		if s, ok := x.(string); ok {
			return s, nil
		}
		return "", errors.New("want a string")
	case settings.KindInt:
		if n, ok := x.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return strconv.FormatInt(i, 10), nil
			}
		}
		return "", errors.New("want an integer")
	case settings.KindBool:
		if b, ok := x.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", errors.New("want true or false")
	}
	return "", errors.New("unsupported type")
}
