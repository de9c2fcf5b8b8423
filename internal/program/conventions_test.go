package program

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is the directory of filesight's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goList(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// allowedTestingImporters may link the standard library's testing package
// into a program: go.temporal.io/sdk/internal holds the SDK's workflow test
// suite next to its client, so every program that talks to Temporal links
// testing through the SDK. Nothing else may, least of all our own code.
var allowedTestingImporters = []string{"go.temporal.io/sdk/internal"}

// Every program of the module (every main package) links no test code:
// no package that imports testing, but the Temporal SDK's own (above), and
// so no test server, test helper or fake of ours.
func TestProgramsLinkNoTestCode(t *testing.T) {
	root := moduleRoot(t)
	programs := strings.Fields(goList(t, root, "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./..."))
	for _, want := range []string{"worker", "starter", "localbox", "mlengine", "vault", "devstack", "replayer", "bench"} {
		if !slices.Contains(programs, "filesight/"+want) {
			t.Fatalf("program %s not found among the main packages %v", want, programs)
		}
	}
	for _, prog := range programs {
		deps := goList(t, root, "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, prog)
		for _, line := range strings.Split(strings.TrimSpace(deps), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !slices.Contains(f[1:], "testing") || slices.Contains(allowedTestingImporters, f[0]) {
				continue
			}
			t.Errorf("%s links test code: %s imports testing (move it into a …test package or a _test.go file)", prog, f[0])
		}
	}
}

// Errors are logged under one key, "error", in every package: a log call
// (or slog.Any/slog.String) with the key "err" fails this test.
func TestErrorsAreLoggedUnderOneKey(t *testing.T) {
	root := moduleRoot(t)
	files := strings.Fields(goList(t, root, "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}`, "./..."))
	if len(files) < 50 {
		t.Fatalf("only %d source files found", len(files))
	}
	logFuncs := []string{"Debug", "Info", "Warn", "Error", "DebugContext", "InfoContext", "WarnContext", "ErrorContext", "Log", "With", "Any", "String"}
	fset := token.NewFileSet()
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains(logFuncs, sel.Sel.Name) {
				return true
			}
			for _, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if k, _ := strconv.Unquote(lit.Value); k == "err" {
						rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
						t.Errorf("%s:%d: log key %q; use \"error\"", rel, fset.Position(lit.Pos()).Line, k)
					}
				}
			}
			return true
		})
	}
}
