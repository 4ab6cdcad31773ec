// Package monitoring tests the monitoring kit in the repository's
// monitoring/ directory (alert rules, Grafana dashboard, Prometheus scrape
// configurations, Kubernetes Service and ServiceMonitor manifests) the way
// an operator uses it: promtool checks every file, and a real Prometheus
// (Debian's /usr/bin/prometheus) runs the kit's own configuration files —
// targets, certificate paths and intervals rewritten into a temporary
// copy — against a 3-member Concord cluster with TLS and client-certificate
// authentication on the client port and a plain --listen-metrics-urls
// listener. Through Prometheus' HTTP API the tests check that every target
// is up, that seed 000's PromQL and every dashboard query return data,
// that no alert is pending or firing on the healthy cluster, and that the
// member alerts fire once members are killed.
//
// Without a prometheus or promtool binary the tests skip, except under CI
// (CI=true), where that is a failure.
package monitoring
