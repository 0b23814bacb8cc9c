package csi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document under deploy/kubernetes strictly (an
// unknown or misspelt field is an error) into its k8s.io/api type.
func manifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob("../deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string][]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s doc %d: %v", f, i, err)
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/Namespace":
				obj = &corev1.Namespace{}
			case "v1/ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "v1/Secret":
				obj = &corev1.Secret{}
			case "v1/PersistentVolume":
				obj = &corev1.PersistentVolume{}
			case "v1/PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			case "v1/Pod":
				obj = &corev1.Pod{}
			case "apps/v1/DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "storage.k8s.io/v1/CSIDriver":
				obj = &storagev1.CSIDriver{}
			case "storage.k8s.io/v1/StorageClass":
				obj = &storagev1.StorageClass{}
			case "rbac.authorization.k8s.io/v1/ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			case "rbac.authorization.k8s.io/v1/Role":
				obj = &rbacv1.Role{}
			case "rbac.authorization.k8s.io/v1/RoleBinding":
				obj = &rbacv1.RoleBinding{}
			default:
				t.Fatalf("%s doc %d: unexpected %s %s", f, i, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s doc %d (%s): %v", f, i, tm.Kind, err)
			}
			byKind[tm.Kind] = append(byKind[tm.Kind], obj)
		}
	}
	return byKind
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestManifestsDecodeStrictly(t *testing.T) {
	// The decoder is strict: a misspelt field fails.
	bad := "apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata:\n  name: x\nspec:\n  attachRequierd: false\n"
	if err := yaml.UnmarshalStrict([]byte(bad), &storagev1.CSIDriver{}); err == nil {
		t.Fatal("the strict decoder accepted an unknown field")
	}
	m := manifests(t)
	for _, kind := range []string{"CSIDriver", "DaemonSet", "Deployment", "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "Pod", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} {
		if len(m[kind]) == 0 {
			t.Errorf("no %s in deploy/kubernetes", kind)
		}
	}
	drv := m["CSIDriver"][0].(*storagev1.CSIDriver)
	if drv.Name != DriverName || drv.Spec.AttachRequired == nil || *drv.Spec.AttachRequired {
		t.Errorf("CSIDriver %s attachRequired %v", drv.Name, drv.Spec.AttachRequired)
	}

	// The node DaemonSet: privileged plugin with the kubelet dir
	// (bidirectional) and the cache root from the host, the registrar and
	// the liveness probe.
	ds := m["DaemonSet"][0].(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	var images []string
	var plugin *corev1.Container
	for i, c := range pod.Containers {
		images = append(images, c.Image)
		if c.Name == "ossmount-csi" {
			plugin = &pod.Containers[i]
		}
	}
	if plugin == nil {
		t.Fatal("no ossmount-csi container in the DaemonSet")
	}
	if plugin.SecurityContext == nil || plugin.SecurityContext.Privileged == nil || !*plugin.SecurityContext.Privileged {
		t.Error("the node plugin is not privileged")
	}
	args := strings.Join(plugin.Args, " ")
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range plugin.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	if vm, ok := mounts["/var/lib/kubelet"]; !ok || hostPaths[vm.Name] != "/var/lib/kubelet" || vm.MountPropagation == nil || *vm.MountPropagation != corev1.MountPropagationBidirectional {
		t.Errorf("kubelet dir mount: %+v", vm)
	}
	for _, flag := range []string{"--cache-root=", "--state-dir="} {
		dir := regexp.MustCompile(regexp.QuoteMeta(flag) + `(\S+)`).FindStringSubmatch(args)
		if dir == nil {
			t.Errorf("plugin args %q lack %s", args, flag)
			continue
		}
		if vm, ok := mounts[dir[1]]; !ok || hostPaths[vm.Name] != dir[1] {
			t.Errorf("%s%s is not a host path mounted at the same place", flag, dir[1])
		}
	}
	if !strings.HasPrefix(args, "csi ") || !strings.Contains(args, "--endpoint=unix:///csi/csi.sock") || !strings.Contains(args, "--node-id=$(NODE_NAME)") {
		t.Errorf("plugin args %q", args)
	}
	for _, want := range []string{"csi-node-driver-registrar", "livenessprobe"} {
		if !slices.ContainsFunc(images, func(s string) bool { return strings.Contains(s, "/"+want+":") }) {
			t.Errorf("DaemonSet lacks the %s sidecar (images %v)", want, images)
		}
	}
	for _, c := range pod.Containers {
		if c.Name == "node-driver-registrar" && !slices.Contains(c.Args, "--kubelet-registration-path=/var/lib/kubelet/plugins/"+DriverName+"/csi.sock") {
			t.Errorf("registrar args %v", c.Args)
		}
	}
	dep := m["Deployment"][0].(*appsv1.Deployment)
	if !slices.ContainsFunc(dep.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return strings.Contains(c.Image, "/csi-provisioner:") }) {
		t.Error("the controller Deployment lacks csi-provisioner")
	}

	// The StorageClass and the static PV name this driver, and the plugin
	// accepts their parameters and attributes.
	d := &Driver{}
	for _, obj := range m["StorageClass"] {
		sc := obj.(*storagev1.StorageClass)
		if sc.Provisioner != DriverName {
			t.Errorf("StorageClass %s provisioner %s", sc.Name, sc.Provisioner)
		}
		_, err := d.CreateVolume(context.Background(), &csipb.CreateVolumeRequest{Name: "pvc-0", Parameters: sc.Parameters,
			VolumeCapabilities: []*csipb.VolumeCapability{{AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
				AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY}}}})
		if err != nil {
			t.Errorf("StorageClass %s: CreateVolume refuses its parameters: %v", sc.Name, err)
		}
	}
	for _, obj := range m["PersistentVolume"] {
		pv := obj.(*corev1.PersistentVolume)
		if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName {
			t.Errorf("PV %s is not for %s", pv.Name, DriverName)
			continue
		}
		spec, err := parseVolumeContext(pv.Spec.CSI.VolumeAttributes)
		if err == nil {
			err = spec.check(pv.Spec.CSI.NodeStageSecretRef == nil)
		}
		if err != nil {
			t.Errorf("PV %s: %v", pv.Name, err)
		}
		for _, mode := range pv.Spec.AccessModes {
			if mode != corev1.ReadOnlyMany {
				t.Errorf("PV %s: access mode %s", pv.Name, mode)
			}
		}
	}
}

// TestDockerfileBuildsWhatMakeBuilds compares the Dockerfile's go build
// with the Makefile's build target: the same flags and package (the output
// path aside; make's $(VERSION) is the Dockerfile's ${VERSION}).
func TestDockerfileBuildsWhatMakeBuilds(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s*[:?]?=\s*(.*)$`).FindAllStringSubmatch(string(mk), -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	var makeLine string
	inBuild := false
	for _, l := range strings.Split(string(mk), "\n") {
		switch {
		case strings.HasPrefix(l, "build:"):
			inBuild = true
		case inBuild && strings.HasPrefix(l, "\t") && strings.Contains(l, "./cmd/ossmount"):
			makeLine = strings.TrimSpace(l)
		case inBuild && !strings.HasPrefix(l, "\t"):
			inBuild = false
		}
	}
	if makeLine == "" {
		t.Fatal("no go build of ./cmd/ossmount in the Makefile's build target")
	}
	// Expand make variables, leaving $(VERSION) as the build's input.
	for i := 0; i < 5; i++ {
		makeLine = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(makeLine, func(s string) string {
			name := s[2 : len(s)-1]
			if name == "VERSION" {
				return "@VERSION@"
			}
			if name == "GO" {
				return "go"
			}
			return vars[name]
		})
	}
	var dockerLine string
	for _, l := range strings.Split(string(df), "\n") {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			if dockerLine != "" {
				t.Fatal("more than one go build in the Dockerfile")
			}
			dockerLine = strings.TrimSpace(strings.TrimPrefix(l, "RUN "))
		}
	}
	dockerLine = strings.NewReplacer("${VERSION}", "@VERSION@", "$VERSION", "@VERSION@").Replace(dockerLine)
	a, b := withoutOutput(t, shellWords(t, makeLine)), withoutOutput(t, shellWords(t, dockerLine))
	if !slices.Equal(a, b) {
		t.Errorf("the Dockerfile builds\n  %q\nmake build builds\n  %q", b, a)
	}
	if !bytes.Contains(df, []byte("fuse3")) {
		t.Error("the runtime image lacks fuse3")
	}
}

// shellWords splits a command line as sh would (quotes, no expansion).
func shellWords(t *testing.T, s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func withoutOutput(t *testing.T, words []string) []string {
	i := slices.Index(words, "-o")
	if i < 0 || i+1 >= len(words) {
		t.Fatalf("no -o in %q", words)
	}
	return slices.Delete(slices.Clone(words), i, i+2)
}
