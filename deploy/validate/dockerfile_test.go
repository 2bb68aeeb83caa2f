package validate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// The image the Dockerfile must describe (docs/container.md).
const (
	buildBase   = "golang:1.26-bookworm"
	finalBase   = "nginx:1.27-bookworm"
	imageUser   = "101:101"
	imagePort   = "8080"
	imageBinary = "/usr/local/bin/luawrap"
	imageScript = "/etc/luawrap/http_strict.lua"
)

var (
	wantEntrypoint = []string{"luawrap", "--script", imageScript, "--"}
	wantCmd        = []string{"nginx", "-g", "daemon off;"}
)

// parseDockerfile parses the repository's Dockerfile with BuildKit's
// parser: syntax errors and warnings (empty continuation lines), and the
// build checks BuildKit runs while parsing (stage name casing, FROM/AS
// casing, MAINTAINER), fail the test.
func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(readRepo(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile line %d: %s %s", w.Location.Start.Line, w.Short, w.Detail)
	}
	// BuildKit runs most of its checks when it converts the file to a
	// build graph, which needs far more of BuildKit; instruction casing
	// (ConsistentInstructionCasing) is checked here, JSON form where it
	// matters below.
	for _, n := range res.AST.Children {
		if kw := strings.Fields(n.Original)[0]; kw != strings.ToUpper(kw) {
			t.Errorf("Dockerfile line %d: instruction %q not in upper case", n.StartLine, kw)
		}
	}
	var lint []string
	lt := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		lint = append(lint, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, meta, err := instructions.Parse(res.AST, lt)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, l := range lint {
		t.Errorf("Dockerfile check %s", l)
	}
	if len(meta) != 0 {
		t.Errorf("Dockerfile: unexpected ARG before FROM: %v", meta)
	}
	return stages
}

// runLines are the RUN instructions of a stage, each as one string.
func runLines(st instructions.Stage) []string {
	var out []string
	for _, c := range st.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			out = append(out, strings.Join(r.CmdLine, " "))
		}
	}
	return out
}

// commandsOf returns the stage's commands of type T.
func commandsOf[T instructions.Command](st instructions.Stage) []T {
	var out []T
	for _, c := range st.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// containing returns the first line that contains every word, or "".
func containing(lines []string, words ...string) string {
	for _, l := range lines {
		ok := true
		for _, w := range words {
			if !strings.Contains(l, w) {
				ok = false
				break
			}
		}
		if ok {
			return l
		}
	}
	return ""
}

// buildOutput returns the -o argument of the go build line.
func buildOutput(line string) string {
	f := strings.Fields(line)
	for i, w := range f {
		if w == "-o" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// TestDockerfile checks the image the Dockerfile builds: a cgo build of
// luawrap on Debian 12 with libseccomp-dev, then the stock nginx image
// with libseccomp2, luawrap, the example scripts and the unprivileged
// nginx.conf, running as nginx (uid 101) with luawrap as the entrypoint.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2 (build and final)", len(stages))
	}
	build, final := stages[0], stages[1]

	if build.BaseName != buildBase || build.Name != "build" {
		t.Errorf("first stage: FROM %s AS %s, want FROM %s AS build", build.BaseName, build.Name, buildBase)
	}
	runs := runLines(build)
	if containing(runs, "apt-get install", "libseccomp-dev") == "" {
		t.Errorf("build stage installs no libseccomp-dev (cgo needs its headers): %q", runs)
	}
	gobuild := containing(runs, "CGO_ENABLED=1", "go build", "-trimpath", "-ldflags=-s", "./cmd/luawrap")
	if gobuild == "" {
		t.Fatalf("build stage has no CGO_ENABLED=1 go build -trimpath -ldflags=-s ./cmd/luawrap: %q", runs)
	}
	out := buildOutput(gobuild)
	if out == "" {
		t.Fatalf("go build without -o: %q", gobuild)
	}

	if final.BaseName != finalBase || final.Name != "" {
		t.Errorf("final stage: FROM %s AS %q, want FROM %s", final.BaseName, final.Name, finalBase)
	}
	if containing(runLines(final), "apt-get install", "libseccomp2") == "" {
		t.Errorf("final stage does not install libseccomp2 (luawrap's runtime library)")
	}
	var fromBuild, scripts, conf bool
	for _, c := range commandsOf[*instructions.CopyCommand](final) {
		switch {
		case c.From == "build":
			fromBuild = slices.Equal(c.SourcePaths, []string{out}) && c.DestPath == imageBinary
		case slices.Equal(c.SourcePaths, []string{"examples/scripts/*.lua"}):
			scripts = c.DestPath == path.Dir(imageScript)+"/"
		case slices.Equal(c.SourcePaths, []string{"deploy/docker/nginx.conf"}):
			conf = c.DestPath == "/etc/nginx/nginx.conf"
		}
	}
	if !fromBuild {
		t.Errorf("final stage does not COPY --from=build %s %s", out, imageBinary)
	}
	if !scripts {
		t.Errorf("final stage does not COPY examples/scripts/*.lua %s/", path.Dir(imageScript))
	}
	if !conf {
		t.Errorf("final stage does not COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf")
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), "examples", "scripts", path.Base(imageScript))); err != nil {
		t.Errorf("the entrypoint's script is not among the copied ones: %v", err)
	}

	users := commandsOf[*instructions.UserCommand](final)
	if len(users) != 1 || users[0].User != imageUser {
		t.Errorf("final stage USER %v, want one USER %s", users, imageUser)
	}
	exposes := commandsOf[*instructions.ExposeCommand](final)
	if len(exposes) != 1 || !slices.Equal(exposes[0].Ports, []string{imagePort}) {
		t.Errorf("final stage EXPOSE %v, want %s", exposes, imagePort)
	}
	eps := commandsOf[*instructions.EntrypointCommand](final)
	if len(eps) != 1 || eps[0].PrependShell || !slices.Equal(eps[0].CmdLine, wantEntrypoint) {
		t.Errorf("ENTRYPOINT %+v, want exec form %q", eps, wantEntrypoint)
	}
	cmds := commandsOf[*instructions.CmdCommand](final)
	if len(cmds) != 1 || cmds[0].PrependShell || !slices.Equal(cmds[0].CmdLine, wantCmd) {
		t.Errorf("CMD %+v, want exec form %q", cmds, wantCmd)
	}
}

// TestNginxConf checks that the image's nginx.conf suits a non-root
// nginx: no user directive, the exposed port, writable paths under /tmp.
func TestNginxConf(t *testing.T) {
	conf := string(readRepo(t, "deploy/docker/nginx.conf"))
	var directives []string
	for _, l := range strings.Split(conf, "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			directives = append(directives, strings.TrimSpace(l))
		}
	}
	if d := containing(directives, "user "); strings.HasPrefix(d, "user ") {
		t.Errorf("nginx.conf has %q: a non-root master cannot switch users", d)
	}
	if containing(directives, "listen "+imagePort+";") == "" {
		t.Errorf("nginx.conf does not listen on %s", imagePort)
	}
	for _, d := range []string{"pid ", "client_body_temp_path ", "proxy_temp_path ", "fastcgi_temp_path ", "uwsgi_temp_path ", "scgi_temp_path "} {
		if l := containing(directives, d); !strings.HasPrefix(l, d+"/tmp/") {
			t.Errorf("nginx.conf: %q, want %s/tmp/...", l, d)
		}
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Log("nginx not installed: nginx -t skipped")
		return
	}
	// nginx -t on a copy whose /tmp is a test directory (nginx -t creates
	// the temporary directories).
	tmp := t.TempDir()
	copyConf := filepath.Join(tmp, "nginx.conf")
	if err := os.WriteFile(copyConf, []byte(strings.ReplaceAll(conf, " /tmp/", " "+tmp+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-e", "stderr", "-c", copyConf).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

// TestDockerignoreKeepsBuildInputs checks that .dockerignore leaves in the
// build context every file the image is built from: go.mod and go.sum,
// the source files of every package of this repository that
// ./cmd/luawrap builds from (as go list reports them), and the sources of
// the final stage's COPY instructions.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	need := []string{"go.mod", "go.sum"}

	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .CgoFiles}} {{.}}{{end}}`+
			`{{range .CFiles}} {{.}}{{end}}{{range .HFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/luawrap")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		w := strings.Fields(l)
		rel, err := filepath.Rel(root, w[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range w[1:] {
			need = append(need, filepath.ToSlash(filepath.Join(rel, file)))
		}
	}
	if len(need) < 5 {
		t.Fatalf("go list found almost nothing: %q", need)
	}

	for _, st := range parseDockerfile(t) {
		for _, c := range commandsOf[*instructions.CopyCommand](st) {
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				if src == "." {
					continue // the whole context: go build's part is checked above
				}
				matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(src)))
				if err != nil || len(matches) == 0 {
					t.Errorf("COPY %s: no such file in the repository", src)
				}
				for _, m := range matches {
					rel, _ := filepath.Rel(root, m)
					need = append(need, filepath.ToSlash(rel))
				}
			}
		}
	}
	for _, p := range need {
		if ignored, err := pm.MatchesOrParentMatches(p); err != nil || ignored {
			t.Errorf(".dockerignore leaves %s out of the build context (%v)", p, err)
		}
	}
	t.Logf("%d build inputs are in the context", len(need))
}
