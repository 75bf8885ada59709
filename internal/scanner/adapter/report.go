package adapter

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// trivyOutput is the part of `trivy image --format json` the report uses.
type trivyOutput struct {
	Results []struct {
		Target          string `json:"Target"`
		Vulnerabilities []struct {
			VulnerabilityID  string   `json:"VulnerabilityID"`
			PkgName          string   `json:"PkgName"`
			InstalledVersion string   `json:"InstalledVersion"`
			FixedVersion     string   `json:"FixedVersion"`
			Severity         string   `json:"Severity"`
			Title            string   `json:"Title"`
			Description      string   `json:"Description"`
			PrimaryURL       string   `json:"PrimaryURL"`
			References       []string `json:"References"`
		} `json:"Vulnerabilities"`
	} `json:"Results"`
}

// Vulnerability is one item of Harbor's vulnerability report 1.1.
type Vulnerability struct {
	ID          string   `json:"id"`
	Package     string   `json:"package"`
	Version     string   `json:"version"`
	FixVersion  string   `json:"fix_version,omitempty"`
	Severity    string   `json:"severity"`
	Description string   `json:"description,omitempty"`
	Links       []string `json:"links,omitempty"`
}

// Report is Harbor's vulnerability report 1.1.
type Report struct {
	GeneratedAt     time.Time         `json:"generated_at"`
	Artifact        json.RawMessage   `json:"artifact"`
	Scanner         map[string]string `json:"scanner"`
	Severity        string            `json:"severity"`
	Vulnerabilities []Vulnerability   `json:"vulnerabilities"`
}

// Severities in Harbor's spelling, lowest first.
var Severities = []string{"None", "Unknown", "Low", "Medium", "High", "Critical"}

// SeverityRank orders a Harbor severity (case-insensitive); unknown
// spellings rank as Unknown.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return 1
}

func harborSeverity(trivy string) string {
	switch strings.ToUpper(trivy) {
	case "CRITICAL":
		return "Critical"
	case "HIGH":
		return "High"
	case "MEDIUM":
		return "Medium"
	case "LOW":
		return "Low"
	}
	return "Unknown"
}

// vulnReport turns Trivy's JSON into Harbor's report 1.1.
func vulnReport(out []byte, req ScanRequest) ([]byte, error) {
	var t trivyOutput
	if err := json.Unmarshal(out, &t); err != nil {
		return nil, fmt.Errorf("trivy output: %w", err)
	}
	art, err := json.Marshal(req.Artifact)
	if err != nil {
		return nil, err
	}
	r := Report{GeneratedAt: time.Now().UTC(), Artifact: art, Severity: "None", Vulnerabilities: []Vulnerability{},
		Scanner: map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": trivyVersion}}
	for _, res := range t.Results {
		for _, v := range res.Vulnerabilities {
			sev := harborSeverity(v.Severity)
			links := v.References
			if v.PrimaryURL != "" {
				links = append([]string{v.PrimaryURL}, links...)
			}
			r.Vulnerabilities = append(r.Vulnerabilities, Vulnerability{ID: v.VulnerabilityID, Package: v.PkgName,
				Version: v.InstalledVersion, FixVersion: v.FixedVersion, Severity: sev,
				Description: firstNonEmpty(v.Description, v.Title), Links: links[:min(len(links), 10)]})
			if SeverityRank(sev) > SeverityRank(r.Severity) {
				r.Severity = sev
			}
		}
	}
	return json.Marshal(r)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
