package config

import "strings"

// Version is Concord's own release version, printed by `concord --version`
// and reported beside the etcd API version in Status responses.
const Version = "0.1.0"

// APIVersion is the etcd server version whose v3 API Concord implements. It
// is what Status.version and the /version endpoint report as etcdserver, so
// clients that gate features on the etcd version (Kubernetes, etcdctl) see
// the API level they need.
const APIVersion = "3.6.0"

// ClusterVersion is the etcd cluster version Concord reports (the
// /version endpoint's etcdcluster and the etcd_cluster_version metric).
const ClusterVersion = "3.6.0"

// GitSHA is the commit Concord was built from; set at link time with
// -ldflags "-X github.com/concord-kv/concord/config.GitSHA=<sha>".
var GitSHA = "Not provided (use -ldflags to set)"

// MajorMinor is the "major.minor" part of a version such as "3.6.0", as
// etcd labels etcd_cluster_version; v itself if it has fewer than two dots.
func MajorMinor(v string) string {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '.'); j >= 0 {
			return v[:i+1+j]
		}
	}
	return v
}
