package deploy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// The parts of a Kubernetes container spec these tests run; the whole
// manifests are checked against the API types in tests/kubernetes.
type k8sProbe struct {
	HTTPGet struct {
		Host, Path, Scheme string
		Port               any
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name    string
	Command []string
	Args    []string
	Env     []struct {
		Name      string
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	}
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
}

type k8sDoc struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Containers []k8sContainer
		Template   struct {
			Spec struct{ Containers []k8sContainer }
		}
	}
}

// k8sDocs reads the documents of a manifest under deploy/kubernetes.
func k8sDocs(t *testing.T, name string) []k8sDoc {
	t.Helper()
	f, err := os.Open(repoFile("deploy/kubernetes/" + name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []k8sDoc
	dec := yaml.NewDecoder(f)
	for {
		var d k8sDoc
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
}

// replaceAll applies the replacements (old, new pairs, in order) to
// every argument.
func replaceAll(args []string, pairs ...string) []string {
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

// probeURL is the URL the kubelet asks for p, with the pod's named ports.
func probeURL(p *k8sProbe, host string, ports map[string]int) string {
	g := p.HTTPGet
	port := fmt.Sprint(g.Port)
	if n, ok := ports[port]; ok {
		port = fmt.Sprint(n)
	}
	if g.Host != "" {
		host = g.Host
	}
	scheme := strings.ToLower(g.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + host + ":" + port + g.Path
}

// probeOK reports whether a GET of u answers 200-399, the kubelet's
// success.
func probeOK(u string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

// TestStaticPodCommand: the command of deploy/kubernetes/etcd.yaml (the
// kubeadm static pod), with the node's name and address, ports, data dir
// and kubeadm's certificate paths substituted, starts a member whose
// startup, readiness and liveness probes pass as the kubelet asks them.
func TestStaticPodCommand(t *testing.T) {
	docs := k8sDocs(t, "etcd.yaml")
	if len(docs) != 1 || docs[0].Kind != "Pod" || len(docs[0].Spec.Containers) != 1 {
		t.Fatalf("etcd.yaml: %+v, want one Pod with one container", docs)
	}
	c := docs[0].Spec.Containers[0]
	if c.Command[0] != "/usr/local/bin/concord" {
		t.Fatalf("command runs %q", c.Command[0])
	}
	pki := concordtest.NewPKI(t)
	certs := t.TempDir()
	for name, src := range map[string]string{"server.crt": pki.ServerCert, "server.key": pki.ServerKey,
		"peer.crt": pki.ServerCert, "peer.key": pki.ServerKey, "ca.crt": pki.CA} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	metrics := concordtest.FreeAddr(t, "127.0.0.1")
	mc := concordtest.New(t, 1, concordtest.Options{Scheme: "https", ClientTLS: pki.ClientTLS})
	m := mc.Members[0]
	node := strings.TrimPrefix(m.ClientURL, "https://") // 127.0.0.1:port, the node's address
	m.Args = replaceAll(c.Command[1:],
		"NODE_IP:2379", node,
		"NODE_IP:2380", strings.TrimPrefix(m.PeerURL, "https://"),
		"127.0.0.1:2379", concordtest.FreeAddr(t, "127.0.0.1"),
		"127.0.0.1:2381", metrics,
		"NODE_NAME", m.Name,
		"/etc/kubernetes/pki/etcd/", certs+"/",
		"/var/lib/etcd", m.DataDir,
	)
	for _, a := range m.Args {
		if strings.Contains(a, "NODE_") {
			t.Fatalf("unsubstituted argument %q", a)
		}
	}
	mc.Launch(t)
	_, port, _ := strings.Cut(metrics, ":")
	ports := map[string]int{}
	for name, p := range map[string]*k8sProbe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil {
			t.Errorf("no %s probe", name)
			continue
		}
		if fmt.Sprint(p.HTTPGet.Port) != "2381" {
			t.Errorf("%s probe on port %v, want the metrics port 2381", name, p.HTTPGet.Port)
			continue
		}
		p.HTTPGet.Port = port
		u := probeURL(p, "", ports)
		eventually(t, 30*time.Second, name+" probe "+u, func() error { return probeOK(u) })
	}
}

// podArgs returns the StatefulSet container's arguments for pod name in
// namespace, $(VAR) expanded from its env as the kubelet does.
func podArgs(t *testing.T, c k8sContainer, name, namespace string) []string {
	t.Helper()
	fields := map[string]string{"metadata.name": name, "metadata.namespace": namespace}
	env := map[string]string{}
	for _, e := range c.Env {
		v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
		if !ok {
			t.Fatalf("env %s: field %q not handled", e.Name, e.ValueFrom.FieldRef.FieldPath)
		}
		env[e.Name] = v
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = ref.ReplaceAllStringFunc(a, func(s string) string { return env[s[2:len(s)-1]] })
	}
	return out
}

// TestStatefulSetPods: the StatefulSet's pod arguments (deploy/kubernetes/
// statefulset.yaml), with each pod's stable DNS name mapped to an address
// of this host, start a 3-member cluster; a pod restarted on its volume
// rejoins; and the scale-up of docs/deploy.md works: after `member add
// --learner` a fourth pod with the same arguments joins (auto cluster
// state) and becomes a voter by itself, its readiness probe passing then.
func TestStatefulSetPods(t *testing.T) {
	var set *k8sDoc
	for _, d := range k8sDocs(t, "statefulset.yaml") {
		if d.Kind == "StatefulSet" {
			set = &d
		}
	}
	if set == nil || len(set.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("statefulset.yaml: no StatefulSet with one container")
	}
	c := set.Spec.Template.Spec.Containers[0]
	const ns = "test"
	c4 := concordtest.New(t, 3, concordtest.Options{Token: "concord-" + ns})
	pod := func(i int) string { return fmt.Sprintf("%s-%d", set.Metadata.Name, i) }
	// Every pod's DNS name maps to member i's address, decided up front.
	var pairs []string
	metrics := map[*concordtest.Member]string{}
	members := append([]*concordtest.Member{}, c4.Members...)
	members = append(members, c4.NewMember(t, pod(3), "127.0.0.4"))
	for i, m := range members {
		dns := pod(i) + ".concord." + ns + ".svc"
		pairs = append(pairs, dns+":2379", strings.TrimPrefix(m.ClientURL, "http://"), dns+":2380", strings.TrimPrefix(m.PeerURL, "http://"))
		metrics[m] = concordtest.FreeAddr(t, fmt.Sprintf("127.0.0.%d", i+1))
	}
	argsFor := func(i int) []string {
		m := members[i]
		a := podArgs(t, c, pod(i), ns)
		return replaceAll(a, append(append([]string{}, pairs...),
			"0.0.0.0:2379", strings.TrimPrefix(m.ClientURL, "http://"),
			"0.0.0.0:2380", strings.TrimPrefix(m.PeerURL, "http://"),
			"0.0.0.0:2381", metrics[m],
			"/var/lib/concord/data", m.DataDir)...)
	}
	for i, m := range c4.Members {
		m.Args = argsFor(i)
	}
	c4.Launch(t)

	// A pod restarted on its volume comes back with the same flags.
	p1 := c4.Members[1]
	p1.Stop()
	p1.Restart(t)
	c4.WaitServing(t, p1)

	// Scale-up: the learner is added first, then the pod starts.
	cl := c4.Client(t)
	p3 := members[3]
	var added *clientv3.MemberAddResponse
	eventually(t, 30*time.Second, "member add --learner of "+pod(3), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		added, err = cl.MemberAddAsLearner(ctx, []string{p3.PeerURL})
		return err
	})
	p3.Args = argsFor(3)
	c4.AddMember(t, p3)
	// The probes name the container's metrics port (2381), which this
	// host maps to the pod's metrics address.
	named := map[string]int{}
	for _, p := range c.Ports {
		named[p.Name] = p.ContainerPort
	}
	if named["metrics"] != 2381 {
		t.Fatalf("container ports %v: no metrics port 2381", named)
	}
	var mp int
	_, mport, _ := strings.Cut(metrics[p3], ":")
	if _, err := fmt.Sscan(mport, &mp); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{"metrics": mp}
	ready := probeURL(c.ReadinessProbe, "127.0.0.4", ports)
	eventually(t, 60*time.Second, pod(3)+" promoted to voter", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := cl.MemberList(ctx)
		if err != nil {
			return err
		}
		for _, m := range resp.Members {
			if m.ID == added.Member.ID && !m.IsLearner && m.Name == pod(3) {
				return nil
			}
		}
		return fmt.Errorf("members %v", resp.Members)
	})
	eventually(t, 30*time.Second, pod(3)+"'s readiness probe "+ready, func() error { return probeOK(ready) })
	live := probeURL(c.LivenessProbe, "127.0.0.4", ports)
	if err := probeOK(live); err != nil {
		t.Errorf("liveness probe: %v", err)
	}
}
