package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestManifestSchemas runs the Kubernetes manifests' schema check, which is
// a Go module of its own (tests/kubernetes) so that k8s.io/api stays out of
// Concord's go.mod; running it from here keeps it inside the README's one
// test command.
func TestManifestSchemas(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "test", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schema check in %s failed: %v\n%s", dir, err, out)
	}
	t.Logf("%s", out)
}
