package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ensureRemoteProject creates the destination project on a Berth or
// Harbor registry when it does not exist (Harbor's own replication does
// the same); other registries need none.
func ensureRemoteProject(ctx context.Context, c *client, repo string) error {
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
