package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// LabelReader returns the names of the labels on the local artifact
// repo@d (none: an empty list).
type LabelReader func(ctx context.Context, repo string, d digest.Digest) ([]string, error)

// labelsSupported reports whether a pull policy from a registry of type
// typ can filter on labels: only Berth and Harbor keep labels, and show
// them with an artifact (with_label=true).
func labelsSupported(typ string) bool { return typ == TypeBerth || typ == TypeHarbor }

// artifactLabels returns the label names on repo@d of the policy's source:
// the local store for a push, the source's REST API for a pull from Berth
// or Harbor.
func (s *Service) artifactLabels(ctx context.Context, src *client, repo, d string) ([]string, error) {
	if src == nil {
		if s.opts.Labels == nil {
			return nil, invalidf("label filters: the local registry's labels are not available")
		}
		dg, err := digest.Parse(d)
		if err != nil {
			return nil, err
		}
		return s.opts.Labels(ctx, repo, dg)
	}
	if !labelsSupported(src.e.Type) {
		return nil, invalidf("label filters need a Berth or Harbor source: a %s registry keeps no labels", src.e.Type)
	}
	return remoteLabels(ctx, src, repo, d)
}

// remoteLabels asks a Berth or Harbor registry for the labels of repo@d
// (GET /api/v2.0/projects/{p}/repositories/{r}/artifacts/{d}?with_label=true,
// the repository name escaped twice as Harbor wants it).
func remoteLabels(ctx context.Context, c *client, repo, d string) ([]string, error) {
	project, rest, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, fmt.Errorf("labels of %s: a repository outside any project", repo)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := c.reg.Scheme() + "://" + c.reg.RegistryStr() + "/api/v2.0/projects/" + url.PathEscape(project) +
		"/repositories/" + url.PathEscape(url.PathEscape(rest)) + "/artifacts/" + url.PathEscape(d) + "?with_label=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	c.basicAuth(req)
	resp, err := (&http.Client{Transport: c.base}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("labels of %s@%s: %w", repo, d, scrub(err, c.e.Secret))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("labels of %s@%s: the source answered %s", repo, d, resp.Status)
	}
	var art struct {
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&art); err != nil {
		return nil, fmt.Errorf("labels of %s@%s: %w", repo, d, err)
	}
	out := make([]string, 0, len(art.Labels))
	for _, l := range art.Labels {
		out = append(out, l.Name)
	}
	return out, nil
}
