// Package helm holds the tests of Berth's Helm chart (berth/): helm lint,
// helm template over several value sets, every rendered object validated
// strictly against the Kubernetes OpenAPI schemas, and the chart's promises
// (secrets only in Secrets, restricted pods, real BERTH_* settings, the
// reference example's spread and budget). scripts/test's helm step runs
// them; without BERTH_TEST_HELM they skip.
package helm
