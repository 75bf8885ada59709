package depcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metaWrites are the write methods of the metadata aggregates whose rules
// the domain services own (meta.Projects, meta.Repositories,
// meta.Manifests): creating, changing and deleting projects,
// repositories, manifests and tags.
var metaWrites = map[string]bool{
	"CreateProject": true, "CreateProjectWithAdmin": true, "UpdateProject": true, "DeleteProject": true,
	"EnsureRepository": true, "DeleteRepository": true, "UpdateRepositoryDescription": true,
	"PutManifest": true, "DeleteManifest": true, "PutTag": true, "CreateTag": true, "DeleteTag": true,
}

// writeAggregates are the receivers of metaWrites.
var writeAggregates = map[string]bool{"Projects": true, "Repositories": true, "Manifests": true}

// paramTypes is a method's parameter types with package qualifiers
// dropped ("Context,string,Digest"), so that an interface method in
// another package compares equal to meta's.
func paramTypes(ft *ast.FuncType) string {
	var out []string
	for _, f := range ft.Params.List {
		typ := qualifier.ReplaceAllString(types.ExprString(f.Type), "")
		for range max(len(f.Names), 1) {
			out = append(out, typ)
		}
	}
	return strings.Join(out, ",")
}

// qualifier matches a package qualifier in a type expression ("meta.").
var qualifier = regexp.MustCompile(`\b[a-z][A-Za-z0-9_]*\.`)

// metaWriteSignatures parses internal/meta and returns, for each method of
// metaWrites on a write aggregate, its parameter types.
func metaWriteSignatures(t *testing.T, root string) map[string]string {
	t.Helper()
	dir := filepath.Join(root, "internal", "meta")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sigs := map[string]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || !metaWrites[fd.Name.Name] {
				continue
			}
			recv := strings.TrimPrefix(types.ExprString(fd.Recv.List[0].Type), "*")
			if writeAggregates[recv] {
				sigs[fd.Name.Name] = paramTypes(fd.Type)
			}
		}
	}
	for name := range metaWrites {
		if _, ok := sigs[name]; !ok {
			t.Errorf("meta has no write method %s on Projects, Repositories or Manifests any more; update metaWrites", name)
		}
	}
	return sigs
}

// metaStoreTypes are the concrete store types through which those writes
// could be reached without a consumer-defined interface.
var metaStoreTypes = map[string]bool{"Store": true, "Projects": true, "Repositories": true, "Manifests": true}

// writers may write projects, repositories, manifests and tags directly:
// the store itself, the domain services and the wiring root.
var writers = map[string]string{
	"internal/meta":          "the store",
	"internal/meta/metatest": "the store's test helpers",
	"internal/app/apptest":   "the server test harness's second store handle (imported by tests only)",
	"internal/project":       "project service",
	"internal/repository":    "repository service",
	"internal/registry":      "push and pull rules (manifests, tags)",
	"internal/content":       "blobs and uploads (creates the repository of a mount)",
	"internal/app":           "wiring root",
	"internal/fsck":          "reads the store through its concrete type",
	"internal/jobs":          "runs the job queue on the store's connection; writes no project data",
}

// TestOnlyServicesWriteProjectsAndRepositories enforces that no package
// but the writers above writes projects, repositories, manifests or tags
// through meta: in every other package's non-test Go files,
//   - no reference to meta's concrete store types (meta.Store,
//     meta.Projects, meta.Repositories, meta.Manifests), so meta is reached
//     only through interfaces the package declares itself, and
//   - no interface the package declares has a method with the name and
//     parameter types of one of metaWrites (so meta's aggregates cannot
//     satisfy it).
//
// restapi and distapi therefore reach those writes only through the
// project, repository and registry services (whose methods take an actor
// or differ otherwise). It is a syntactic check over names and parameter
// type names, without type checking.
func TestOnlyServicesWriteProjectsAndRepositories(t *testing.T) {
	root := filepath.Join("..", "..")
	sigs := metaWriteSignatures(t, root)
	checked := 0
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, ok := writers[pkg]; ok {
			return nil
		}
		checked++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		metaName := ""
		for _, imp := range f.Imports {
			if strings.Trim(imp.Path.Value, `"`) == module+"internal/meta" {
				metaName = "meta"
				if imp.Name != nil {
					metaName = imp.Name.Name
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && metaName != "" && x.Name == metaName && metaStoreTypes[n.Sel.Name] {
					t.Errorf("%s: uses %s.%s; declare an interface of the reads it needs, and change projects, repositories and tags through the services",
						filepath.ToSlash(path), metaName, n.Sel.Name)
				}
			case *ast.InterfaceType:
				for _, m := range n.Methods.List {
					ft, ok := m.Type.(*ast.FuncType)
					if !ok {
						continue
					}
					for _, name := range m.Names {
						if sig, ok := sigs[name.Name]; ok && sig == paramTypes(ft) {
							t.Errorf("%s: an interface declares %s; that write belongs to the project, repository or registry service",
								filepath.ToSlash(path), name.Name)
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files; is the walk rooted right?", checked)
	}
}
