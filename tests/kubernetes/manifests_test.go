package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifestDirs are the repository's folders of Kubernetes manifests:
// deploy/kubernetes and monitoring/kubernetes (the seeds' metrics Services
// and ServiceMonitors, which tests/monitoring also reads).
func manifestDirs() []string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	return []string{filepath.Join(root, "deploy", "kubernetes"), filepath.Join(root, "monitoring", "kubernetes")}
}

// object is one decoded document of a manifest file.
type object struct {
	file string
	kind string
	v    any // *corev1.Pod, *corev1.Service, *appsv1.StatefulSet, *monitoringv1.ServiceMonitor
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode reads every manifest, decoding each document strictly into the
// API type of its apiVersion and kind.
func decode(t *testing.T) []object {
	t.Helper()
	var files []string
	for _, dir := range manifestDirs() {
		fs, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("no manifests under %s: %v", dir, err)
		}
		files = append(files, fs...)
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s doc %d: %v", filepath.Base(f), i, err)
			}
			var v any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Pod":
				v = &corev1.Pod{}
			case "v1 Service":
				v = &corev1.Service{}
			case "v1 Endpoints":
				v = &corev1.Endpoints{} //nolint:staticcheck // as the seeds' manifests
			case "apps/v1 StatefulSet":
				v = &appsv1.StatefulSet{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				v = &monitoringv1.ServiceMonitor{}
			default:
				t.Fatalf("%s doc %d: unexpected %s %s", filepath.Base(f), i, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Errorf("%s doc %d (%s): %v", filepath.Base(f), i, tm.Kind, err)
				continue
			}
			objs = append(objs, object{file: filepath.Base(f), kind: tm.Kind, v: v})
		}
	}
	return objs
}

func stripComments(doc string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestStrictDecoding: a misspelt field is an error (the check can fail).
func TestStrictDecoding(t *testing.T) {
	bad := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr:\n    a: b\n"
	if err := yaml.UnmarshalStrict([]byte(bad), &corev1.Service{}); err == nil {
		t.Fatal("a misspelt field decoded without error")
	}
}

func find[T any](t *testing.T, objs []object, file string) []T {
	t.Helper()
	var out []T
	for _, o := range objs {
		if v, ok := o.v.(T); ok && o.file == file {
			out = append(out, v)
		}
	}
	return out
}

// TestManifests: every file decodes strictly, and the objects fit
// together as the deployment needs.
func TestManifests(t *testing.T) {
	objs := decode(t)
	files := map[string]bool{}
	for _, o := range objs {
		files[o.file] = true
	}
	for _, f := range []string{"etcd.yaml", "statefulset.yaml", "service.yaml", "servicemonitor.yaml"} {
		if !files[f] {
			t.Errorf("%s: no object decoded", f)
		}
	}
	t.Run("static pod", func(t *testing.T) { checkStaticPod(t, find[*corev1.Pod](t, objs, "etcd.yaml")) })
	t.Run("statefulset", func(t *testing.T) {
		checkStatefulSet(t, find[*appsv1.StatefulSet](t, objs, "statefulset.yaml"), find[*corev1.Service](t, objs, "statefulset.yaml"))
	})
	t.Run("monitoring", func(t *testing.T) {
		checkMonitoring(t, find[*corev1.Service](t, objs, "service.yaml"), find[*monitoringv1.ServiceMonitor](t, objs, "servicemonitor.yaml"))
	})
}

// flagValue returns the value of --name=value in args, and whether it is
// there.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func checkStaticPod(t *testing.T, pods []*corev1.Pod) {
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	p := pods[0]
	if p.Name != "etcd" || p.Namespace != "kube-system" || p.Labels["component"] != "etcd" || !p.Spec.HostNetwork {
		t.Errorf("pod %s/%s labels %v hostNetwork %v: not kubeadm's etcd pod", p.Namespace, p.Name, p.Labels, p.Spec.HostNetwork)
	}
	c := p.Spec.Containers[0]
	if c.Command[0] != "/usr/local/bin/concord" {
		t.Errorf("command %q, want /usr/local/bin/concord", c.Command[0])
	}
	metrics, ok := flagValue(c.Command, "listen-metrics-urls")
	if !ok {
		t.Fatal("no --listen-metrics-urls")
	}
	for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s probe: none", name)
			continue
		}
		g := probe.HTTPGet
		want := map[string]string{"liveness": "/livez", "readiness": "/readyz", "startup": "/readyz"}[name]
		u := strings.ToLower(string(g.Scheme)) + "://" + g.Host + ":" + g.Port.String()
		if g.Path != want || u != metrics {
			t.Errorf("%s probe %s%s, want %s%s (the metrics URL)", name, u, g.Path, metrics, want)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range p.Spec.Volumes {
		if v.HostPath == nil || mounts[v.Name] == "" {
			t.Errorf("volume %s: not a mounted hostPath", v.Name)
		}
	}
	if dir, _ := flagValue(c.Command, "data-dir"); dir != mounts["etcd-data"] {
		t.Errorf("--data-dir %q is not the etcd-data mount %q", dir, mounts["etcd-data"])
	}
}

func checkStatefulSet(t *testing.T, sets []*appsv1.StatefulSet, svcs []*corev1.Service) {
	if len(sets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(sets))
	}
	s := sets[0]
	var headless *corev1.Service
	for _, svc := range svcs {
		if svc.Name == s.Spec.ServiceName {
			headless = svc
		}
		if !matches(svc.Spec.Selector, s.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the pods (%v)", svc.Name, svc.Spec.Selector, s.Spec.Template.Labels)
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Fatalf("serviceName %q: no headless Service publishing not-ready addresses", s.Spec.ServiceName)
	}
	if !matches(s.Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the template's labels %v", s.Spec.Selector.MatchLabels, s.Spec.Template.Labels)
	}
	if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
		t.Errorf("podManagementPolicy %q replicas %v, want Parallel and 3", s.Spec.PodManagementPolicy, s.Spec.Replicas)
	}
	c := s.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range headless.Spec.Ports {
		if ports[p.Name] != p.Port {
			t.Errorf("headless Service port %s=%d is not the container's (%d)", p.Name, p.Port, ports[p.Name])
		}
	}
	for name, probe := range map[string]*corev1.Probe{"/livez": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name || probe.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("probe %s: %+v, want the metrics port", name, probe)
		}
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil
	}
	for _, a := range c.Args {
		for _, m := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(a, -1) {
			if !env[m[1]] {
				t.Errorf("argument %q uses $(%s), which the container's env does not set from the pod", a, m[1])
			}
		}
	}
	if state, _ := flagValue(c.Args, "initial-cluster-state"); state != "auto" {
		t.Errorf("--initial-cluster-state=%q, want auto", state)
	}
	initial, _ := flagValue(c.Args, "initial-cluster")
	for i := range int(*s.Spec.Replicas) {
		name := s.Name + "-" + string(rune('0'+i))
		if !strings.Contains(initial, name+"=http://"+name+"."+headless.Name+".$(POD_NAMESPACE).svc:2380") {
			t.Errorf("--initial-cluster %q lacks pod %s under the headless Service", initial, name)
		}
	}
	claims := map[string]bool{}
	for _, v := range s.Spec.VolumeClaimTemplates {
		claims[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !claims[m.Name] {
			t.Errorf("mount %s has no volume claim template", m.Name)
		}
	}
	if dir, _ := flagValue(c.Args, "data-dir"); !strings.HasPrefix(dir, c.VolumeMounts[0].MountPath+"/") {
		t.Errorf("--data-dir %q is not on the volume %s", dir, c.VolumeMounts[0].MountPath)
	}
}

// checkMonitoring: each ServiceMonitor selects a Service (labels and
// namespace) that has the port its endpoints scrape; one Service selects
// kubeadm's etcd pods (component=etcd) on the metrics port 2381.
func checkMonitoring(t *testing.T, svcs []*corev1.Service, sms []*monitoringv1.ServiceMonitor) {
	if len(svcs) == 0 || len(sms) == 0 {
		t.Fatalf("%d Services and %d ServiceMonitors", len(svcs), len(sms))
	}
	for _, sm := range sms {
		var svc *corev1.Service
		for _, s := range svcs {
			if matches(sm.Spec.Selector.MatchLabels, s.Labels) && slices.Contains(sm.Spec.NamespaceSelector.MatchNames, s.Namespace) {
				svc = s
			}
		}
		if svc == nil {
			t.Errorf("ServiceMonitor %s selects no Service (%v in %v)", sm.Name, sm.Spec.Selector.MatchLabels, sm.Spec.NamespaceSelector.MatchNames)
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("ServiceMonitor %s scrapes port %q, which Service %s lacks", sm.Name, ep.Port, svc.Name)
			}
		}
	}
	if !slices.ContainsFunc(svcs, func(s *corev1.Service) bool {
		return s.Spec.Selector["component"] == "etcd" && s.Namespace == "kube-system" &&
			slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 2381 })
	}) {
		t.Errorf("no Service selects kubeadm's etcd pods on the metrics port 2381")
	}
}

// matches reports whether every pair of sel is in labels (and sel is not
// empty).
func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
