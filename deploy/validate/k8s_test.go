package validate

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// manifests are the objects of deploy/k8s/*.yaml, by name.
type manifests struct {
	configMaps  map[string]*corev1.ConfigMap
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifests decodes every document of deploy/k8s/*.yaml strictly into
// its k8s.io/api type: an unknown field (a misspelling, a field at the
// wrong level), a duplicate field or a value of the wrong type fails, as
// do kinds this example does not use and names the API server would
// refuse.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s (%v)", err)
	}
	m := &manifests{
		configMaps:  map[string]*corev1.ConfigMap{},
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(b), -1) {
			where := fmt.Sprintf("%s document %d", filepath.Base(f), i+1)
			if isEmptyDoc(doc) {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			var meta *metav1.ObjectMeta
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				if strict(t, where, doc, o) {
					m.configMaps[o.Name], meta = o, &o.ObjectMeta
				}
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				if strict(t, where, doc, o) {
					m.deployments[o.Name], meta = o, &o.ObjectMeta
				}
			case "v1 Service":
				o := &corev1.Service{}
				if strict(t, where, doc, o) {
					m.services[o.Name], meta = o, &o.ObjectMeta
					for _, msg := range validation.IsDNS1035Label(o.Name) {
						t.Errorf("%s: Service name %q: %s", where, o.Name, msg)
					}
				}
			default:
				t.Errorf("%s: apiVersion %q kind %q: not a kind this example uses", where, tm.APIVersion, tm.Kind)
			}
			if meta == nil {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(meta.Name) {
				t.Errorf("%s: name %q: %s", where, meta.Name, msg)
			}
			if meta.Namespace != "" {
				t.Errorf("%s: namespace %q set: leave it to kubectl -n", where, meta.Namespace)
			}
			for k, v := range meta.Labels {
				for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
					t.Errorf("%s: label %s=%s: %s", where, k, v, msg)
				}
			}
		}
	}
	return m
}

// isEmptyDoc reports whether a YAML document holds only comments and
// blank lines.
func isEmptyDoc(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// strict decodes doc into o, failing on unknown and duplicate fields.
func strict(t *testing.T, where, doc string, o any) bool {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
		t.Errorf("%s: %v", where, err)
		return false
	}
	return true
}

// the returns the only object of a map, failing unless there is one.
func the[T any](t *testing.T, kind string, objs map[string]*T) *T {
	t.Helper()
	if len(objs) != 1 {
		t.Fatalf("deploy/k8s has %d %s objects, want 1", len(objs), kind)
	}
	for _, o := range objs {
		return o
	}
	return nil
}

// TestStrictDecodingRejectsUnknownFields shows the check has teeth: a
// misspelled field fails.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      securityContxt: {runAsNonRoot: true}\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "securityContxt") {
		t.Fatalf("misspelled field: %v, want an error naming it", err)
	}
}

// TestManifests checks the Deployment, the Service and the ConfigMap
// against each other, the image (the Dockerfile's user, port and
// entrypoint) and what luawrap needs (docs/container.md).
func TestManifests(t *testing.T) {
	m := loadManifests(t)
	if t.Failed() {
		t.FailNow()
	}
	d := the(t, "Deployment", m.deployments)
	svc := the(t, "Service", m.services)
	cm := the(t, "ConfigMap", m.configMaps)
	pod := d.Spec.Template

	// The selector selects the pods.
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("Deployment selector %v does not select its pod labels %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("pod has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// Who runs: the image's non-root user, no privilege.
	psc := pod.Spec.SecurityContext
	if psc == nil {
		t.Fatal("pod has no securityContext")
	}
	uid, gid, _ := strings.Cut(imageUser, ":")
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || strconv.FormatInt(*psc.RunAsUser, 10) != uid ||
		psc.RunAsGroup == nil || strconv.FormatInt(*psc.RunAsGroup, 10) != gid {
		t.Errorf("pod securityContext: runAsNonRoot %v runAsUser %v runAsGroup %v, want true %s %s (the image's USER)",
			deref(psc.RunAsNonRoot), deref(psc.RunAsUser), deref(psc.RunAsGroup), uid, gid)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation %v, want false", deref(sc.AllowPrivilegeEscalation))
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged container")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities %+v: want drop [ALL]", sc.Capabilities)
	}

	// seccomp: RuntimeDefault allows pidfd_getfd and process_vm_readv/
	// writev only with CAP_SYS_PTRACE in the container's capabilities
	// (containerd, Docker); a Localhost profile must allow them itself.
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	var add []string
	if sc.Capabilities != nil {
		for _, a := range sc.Capabilities.Add {
			add = append(add, string(a))
		}
	}
	switch {
	case seccomp == nil:
		t.Error("no seccompProfile: say RuntimeDefault or Localhost (Pod Security Standards, restricted)")
	case seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault:
		if !slices.Equal(add, []string{"SYS_PTRACE"}) {
			t.Errorf("seccompProfile RuntimeDefault with capabilities add %q: want exactly [SYS_PTRACE], which makes the runtime's profile allow pidfd_getfd and process_vm_readv/writev", add)
		}
	case seccomp.Type == corev1.SeccompProfileTypeLocalhost:
		if len(add) != 0 {
			t.Errorf("seccompProfile Localhost with capabilities add %q: want none", add)
		}
	default:
		t.Errorf("seccompProfile %s: want RuntimeDefault or Localhost", seccomp.Type)
	}

	// Volumes: every mount names a volume; nginx writes under /tmp
	// (deploy/docker/nginx.conf), so a read-only root needs a writable
	// /tmp.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.Volume{} // by mount path
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			t.Errorf("volumeMount %s: no volume of that name", vm.Name)
			continue
		}
		mounts[vm.MountPath] = v
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		if v, ok := mounts["/tmp"]; !ok || v.EmptyDir == nil {
			t.Error("readOnlyRootFilesystem without an emptyDir at /tmp, where nginx writes")
		}
	}

	// The script: the image's entrypoint names it (unless command
	// overrides the entrypoint); its directory is the ConfigMap's mount
	// and the ConfigMap holds it.
	script := imageScript
	if len(c.Command) > 0 {
		script = ""
		for i, a := range c.Command {
			if a == "--script" && i+1 < len(c.Command) {
				script = c.Command[i+1]
			}
		}
		if script == "" {
			t.Fatalf("command %q overrides the entrypoint without --script", c.Command)
		}
	}
	v, ok := mounts[path.Dir(script)]
	switch {
	case !ok || v.ConfigMap == nil:
		t.Errorf("the script %s is not in a mounted ConfigMap", script)
	case v.ConfigMap.Name != cm.Name:
		t.Errorf("the script's volume uses ConfigMap %q, the manifests define %q", v.ConfigMap.Name, cm.Name)
	default:
		if _, ok := cm.Data[path.Base(script)]; !ok {
			t.Errorf("ConfigMap %s has no key %s (the script luawrap runs)", cm.Name, path.Base(script))
		}
	}

	// Ports: the image's, named, used by the probes and the Service.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if strconv.Itoa(int(p.ContainerPort)) != imagePort {
			t.Errorf("containerPort %d, the image listens on %s", p.ContainerPort, imagePort)
		}
	}
	checkPort := func(what string, p intstr.IntOrString) {
		t.Helper()
		if p.Type == intstr.String {
			if _, ok := ports[p.StrVal]; !ok {
				t.Errorf("%s: no container port named %q", what, p.StrVal)
			}
		} else if strconv.Itoa(p.IntValue()) != imagePort {
			t.Errorf("%s: port %d, the image listens on %s", what, p.IntValue(), imagePort)
		}
	}
	for what, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		switch {
		case pr == nil:
		case pr.HTTPGet != nil:
			checkPort(what, pr.HTTPGet.Port)
		case pr.TCPSocket != nil:
			checkPort(what, pr.TCPSocket.Port)
		}
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select the pods (%v)", svc.Spec.Selector, pod.Labels)
	}
	for _, p := range svc.Spec.Ports {
		checkPort("Service port "+p.Name, p.TargetPort)
	}
}

// TestConfigMapScript checks that the ConfigMap's script is the example
// it says it copies.
func TestConfigMapScript(t *testing.T) {
	cm := the(t, "ConfigMap", loadManifests(t).configMaps)
	for key, text := range cm.Data {
		want := readRepo(t, "examples/scripts/"+key)
		if text != string(want) {
			t.Errorf("ConfigMap %s key %s differs from examples/scripts/%s", cm.Name, key, key)
		}
	}
	if len(cm.Data) == 0 {
		t.Errorf("ConfigMap %s holds no script", cm.Name)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
