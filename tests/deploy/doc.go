// Package deploy tests the files under deploy/ as they are shipped: the
// systemd unit's ExecStart line run with its environment file, the
// container image and its 3-member cluster script, and the Kubernetes
// manifests (in package deploy/k8scheck's test, which alone needs the
// Kubernetes API types). Each test reads the file it exercises from the
// repository, substituting only paths and addresses.
package deploy
