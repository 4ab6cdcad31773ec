// Package kubernetes checks the manifests under deploy/kubernetes and
// monitoring/kubernetes against the Kubernetes API types (k8s.io/api) and
// the Prometheus Operator's (ServiceMonitor): each document must decode
// strictly (an unknown or misspelt field fails), and the objects must fit
// together (selectors, named ports, the StatefulSet's headless Service,
// the probes' metrics port). It is a module of its own so that these
// dependencies stay out of Concord's go.mod; .ci/run tests it beside the
// main module.
package kubernetes
