package lint

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/concord-kv/concord"

// layer orders the server's packages: a package may import only packages
// of a strictly lower layer (cmd → server → api → {raftnode, apply} →
// {mvcc, membership} → storage).
var layer = map[string]int{
	"storage":             0,
	"config":              0,
	"mvcc":                1,
	"membership":          1,
	"lease":               1,
	"alarm":               1,
	"auth":                1,
	"apply":               2,
	"watch":               2,
	"snapshot":            2,
	"v3lock":              3,
	"internal/lockpb":     0,
	"internal/electionpb": 0,
	"raftnode":            2,
	"api":                 3,
	"server":              4,
}

type pkg struct {
	ImportPath  string
	Dir         string
	Imports     []string
	TestImports []string
	GoFiles     []string
	TestGoFiles []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from, ok := layer[rel(p.ImportPath)]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to, ok := layer[rel(imp)]
			if !ok {
				t.Errorf("%s imports %s, which has no layer", rel(p.ImportPath), rel(imp))
				continue
			}
			if to >= from {
				t.Errorf("%s (layer %d) imports %s (layer %d): dependencies must point down", rel(p.ImportPath), from, rel(imp), to)
			}
		}
	}
}

func TestNoEtcdServer(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range append(append([]string{}, p.Imports...), p.TestImports...) {
			if strings.HasPrefix(imp, "go.etcd.io/etcd/server") {
				t.Errorf("%s imports %s: Concord never embeds etcd's server", rel(p.ImportPath), imp)
			}
		}
	}
}

var globalRegister = regexp.MustCompile(`\bprometheus\.(MustRegister|Register)\(`)

func TestNoGlobalMetricRegistration(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, f := range p.GoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if globalRegister.Match(b) {
				t.Errorf("%s/%s registers metrics in the global registry; take a prometheus.Registerer", rel(p.ImportPath), f)
			}
		}
	}
}

// pure packages are state machines driven by their inputs; their tests
// never sleep.
var pure = map[string]bool{"storage": true, "mvcc": true, "membership": true, "apply": true, "config": true, "lease": true, "auth": true}

func TestNoSleepInPureTests(t *testing.T) {
	for _, p := range listPackages(t) {
		if !pure[rel(p.ImportPath)] {
			continue
		}
		for _, f := range p.TestGoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "time.Sleep(") {
				t.Errorf("%s/%s sleeps; drive the state machine or wait on a condition", rel(p.ImportPath), f)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 && len(p.TestGoFiles) == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.Dir, "doc.go"))
		if err != nil {
			t.Errorf("%s has no doc.go", rel(p.ImportPath))
			continue
		}
		if !regexp.MustCompile(`(?m)^// (Package \w+|Command \S+|\S+ is) `).Match(b) {
			t.Errorf("%s/doc.go does not begin with a package comment", rel(p.ImportPath))
		}
	}
}
