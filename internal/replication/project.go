package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// projectSeenTTL is how long a destination project known to exist is not
// asked for again (each question is a Basic login on the destination).
const projectSeenTTL = time.Minute

// ensureRemoteProject is ensureProject, remembered per registry and
// project for projectSeenTTL.
func (s *Service) ensureRemoteProject(ctx context.Context, registryID int64, c *client, repo string) error {
	key := strconv.FormatInt(registryID, 10) + " " + projectOf(repo)
	if v, ok := s.projectsSeen.Load(key); ok && time.Now().Before(v.(time.Time)) {
		return nil
	}
	if err := ensureProject(ctx, c, repo); err != nil {
		return err
	}
	s.projectsSeen.Store(key, time.Now().Add(projectSeenTTL))
	return nil
}

// ensureProject creates the destination project on a Berth or Harbor
// registry when it does not exist (Harbor's own replication does the
// same); other registries need none.
func ensureProject(ctx context.Context, c *client, repo string) error {
	if c.e.Type != TypeBerth && c.e.Type != TypeHarbor {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	base := c.reg.Scheme() + "://" + c.reg.RegistryStr() + "/api/v2.0/projects"
	hc := &http.Client{Transport: c.base}
	project := projectOf(repo)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, base+"?project_name="+url.QueryEscape(project), nil)
	if err != nil {
		return err
	}
	c.basicAuth(req)
	resp, err := hc.Do(req)
	if err != nil {
		return scrub(err, c.e.Secret)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"project_name": project, "metadata": map[string]string{"public": "false"}})
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, base, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c.basicAuth(req)
	resp, err = hc.Do(req)
	if err != nil {
		return scrub(err, c.e.Secret)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("create project %s: %s", project, resp.Status)
	}
	return nil
}

func (c *client) basicAuth(req *http.Request) {
	if c.e.CredentialType != CredentialToken && (c.e.AccessKey != "" || c.e.Secret != "") {
		req.SetBasicAuth(c.e.AccessKey, c.e.Secret)
	}
}
