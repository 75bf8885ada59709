// Package oci holds the pure parts of the OCI distribution and image specs
// that Berth needs: repository names, tags, references and digests, media
// types, and manifest parsing (what a manifest references).
//
// It imports only the standard library and the spec libraries (image-spec,
// go-digest); it does no I/O.
package oci
