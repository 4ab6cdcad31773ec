// Package deploy tests the files under deploy/ as they are shipped: the
// systemd unit's ExecStart line run with its environment file, the
// container image and its 3-member cluster script, and the commands of the
// Kubernetes manifests (their schema is checked against the API types in
// tests/kubernetes, a module of its own). Each test reads the file it
// exercises from the repository, substituting only paths and addresses.
package deploy
