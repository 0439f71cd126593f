package main

// Tests of the command-line surface shared by every command: exit codes and
// what goes to stderr with them, the --format json outputs, and shell
// completion through cobra's hidden __complete command.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/clip"
)

// TestExitCodesAndUsage: a usage error exits 2 with a pointer to the
// command's --help after the message; any other error exits 1 with the
// message alone. It runs Main in-process, in a fresh working directory and
// without the caller's TRAK_* variables, as the binary would run; the
// end-to-end tests check that the binary's exit status is Main's.
func TestExitCodesAndUsage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "run.yaml", "save_dir: store\ntask: logreg\n")
	t.Chdir(dir)
	clearTrakEnv(t)
	tests := []struct {
		args  []string
		code  int
		usage bool   // a pointer to --help follows
		want  string // in stderr
	}{
		// Usage errors: the command line itself is wrong.
		{[]string{"nonsense"}, 2, true, `unknown command "nonsense"`},
		{[]string{"featurize", "--bogus"}, 2, true, "unknown flag: --bogus"},
		{[]string{"featurize", "--projector-dim", "many"}, 2, true, `invalid argument "many"`},
		{[]string{"top", "--save-dir", "store", "--exp", "x", "-k", "0"}, 2, true, "-k must be at least 1"},
		{[]string{"inspect"}, 2, true, "accepts 1 arg"},
		{[]string{"inspect", "a", "b"}, 2, true, "accepts 1 arg"},
		{[]string{"version", "extra"}, 2, true, `unknown command "extra"`},
		{[]string{"config", "shwo"}, 2, true, `unknown command "shwo" for "trak config"`},
		{[]string{"version", "--format", "xml"}, 2, true, "want text or json"},
		{[]string{"config", "show", "--format", "yaml"}, 2, true, "want text or json"},
		{[]string{"doctor", "--device", "tpu"}, 2, true, "want auto, cpu or cuda"},
		// Errors of the configuration or the run: the message alone.
		{[]string{"top", "--save-dir", "store"}, 1, false, "exp is not set: give --exp"},
		{[]string{"top", "--config", "run.yaml"}, 1, false, "exp is not set"},
		{[]string{"featurize", "--config", "run.yaml", "--train-data", "t.csv"}, 1, false, "checkpoint is not set"},
		{[]string{"score", "--save-dir", "store", "--exp", "val"}, 1, false, "targets is not set"},
		{[]string{"featurize", "--config", "run.yaml", "--projector-dim", "0"}, 1, false, "projector.dim (from flag --projector-dim): must be ≥ 1"},
		{[]string{"top", "--save-dir", "nowhere", "--exp", "x"}, 1, false, "no store at nowhere"},
		{[]string{"finalize", "--save-dir", "nowhere"}, 1, false, "no store at nowhere"},
		{[]string{"inspect", "missing.safetensors"}, 1, false, "missing.safetensors"},
		{[]string{"config", "show", "--config", "absent.yaml"}, 1, false, "absent.yaml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, stdout, stderr := testIO()
			code := Main(tt.args, io)
			out, errOut := stdout.String(), stderr.String()
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
			if !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr lacks %q", tt.want)
			}
			lines := strings.Count(errOut, "\n")
			hasUsage := strings.Contains(errOut, "--help' for usage.\n")
			switch {
			case tt.usage && (!hasUsage || lines != 2):
				t.Errorf("want the error and a pointer to --help, got %d lines", lines)
			case !tt.usage && (hasUsage || lines != 1):
				t.Errorf("want the error alone on one line, got %d lines", lines)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", errOut)
			}
		})
	}
}

// clearTrakEnv unsets every TRAK_* variable for the rest of the test, as
// cleanEnv does for the binary.
func clearTrakEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TRAK_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

// TestRunErrorsAreNotUsageErrors: an error from a command's run is an
// error, exit 1, however it is worded; cobra's own errors and usageError are
// usage errors.
func TestRunErrorsAreNotUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  error
		code int
	}{
		{[]string{"fail"}, errors.New("mmap store/0/grads.npy: invalid argument"), 1},
		{[]string{"fail"}, errors.New("the store accepts 3 model ids, required flag missing"), 1},
		{[]string{"fail"}, fmt.Errorf("read: %w", errors.New("unknown command")), 1},
		{[]string{"fail"}, usageErrorf("--size must be positive"), 2},
		{[]string{"fail", "extra"}, nil, 2},
		{[]string{"fial"}, nil, 2},
	} {
		io, _, errOut := testIO()
		root := newRootCmd(io)
		root.AddCommand(&cobra.Command{Use: "fail", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return tt.err }})
		code := execute(context.Background(), root, tt.args, io)
		lines := strings.Count(errOut.String(), "\n")
		if code != tt.code || (code == 1) != (lines == 1) {
			t.Errorf("%v (%v): exit %d, want %d; stderr %d lines:\n%s", tt.args, tt.err, code, tt.code, lines, errOut)
		}
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// jsonKeys collects every object key of a decoded JSON document.
func jsonKeys(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[k] = true
			jsonKeys(e, into)
		}
	case []any:
		for _, e := range x {
			jsonKeys(e, into)
		}
	}
}

// checkJSONShape parses out as one JSON object and checks that its keys are
// snake_case and, where readme is given, shown in the README as "key".
func checkJSONShape(t *testing.T, name, out, readme string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s: not one JSON object: %v\n%s", name, err, out)
	}
	keys := map[string]bool{}
	jsonKeys(doc, keys)
	for k := range keys {
		if !snakeCase.MatchString(k) {
			t.Errorf("%s: key %q is not snake_case", name, k)
		}
		if readme != "" && !strings.Contains(readme, `"`+k+`"`) {
			t.Errorf("%s: key %q is not in the README's example of the output", name, k)
		}
	}
	return doc
}

// TestFormatJSON: inspect, doctor, config show and version print one JSON
// document with --format json, in the shapes the README documents.
func TestFormatJSON(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	dir := t.TempDir()

	var v versionInfo
	out := mustTrak(t, dir, "version", "--format", "json")
	checkJSONShape(t, "version", out, readme)
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" || v.GoVersion == "" || v.OS == "" || v.Arch == "" || v.CUDA {
		t.Errorf("version --format json: %v %+v", err, v)
	}
	if text := mustTrak(t, dir, "version"); text != fmt.Sprintf("trak %s (%s, %s/%s)\n", v.Version, v.GoVersion, v.OS, v.Arch) {
		t.Errorf("version text and JSON disagree: %q", text)
	}

	out = mustTrak(t, dir, "doctor", "--format", "json")
	var doc struct {
		Version string `json:"version"`
		CPU     struct {
			LogicalCores int `json:"logical_cores"`
		} `json:"cpu"`
		NVIDIA   *struct{ Devices []string } `json:"nvidia"`
		TrakCUDA *struct{ Path string }      `json:"trak_cuda"`
	}
	checkJSONShape(t, "doctor", out, readme)
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Version == "" || doc.CPU.LogicalCores < 1 || doc.NVIDIA == nil || doc.NVIDIA.Devices == nil || doc.TrakCUDA == nil {
		t.Errorf("doctor --format json: %v\n%s", err, out)
	}

	// config show: the same keys as the YAML form, and itself a config file.
	out = mustTrak(t, dir, "config", "show", "--format", "json", "--projector-dim", "77", "--lambda", "0.5", "--save-dir", "/tmp/x y")
	cfg := checkJSONShape(t, "config show", out, "")
	if cfg["projector"].(map[string]any)["dim"] != 77.0 || cfg["lambda"] != 0.5 || cfg["save_dir"] != "/tmp/x y" {
		t.Errorf("config show --format json: %s", out)
	}
	path := filepath.Join(dir, "shown.json")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	want := mustTrak(t, dir, "config", "show", "--projector-dim", "77", "--lambda", "0.5", "--save-dir", "/tmp/x y")
	if got := mustTrak(t, dir, "config", "show", "--config", path); got != want {
		t.Errorf("config show --format json does not load back as the same configuration:\n%s\nwant\n%s", got, want)
	}

	// inspect: a good checkpoint, and one with problems (exit 1, JSON still
	// on stdout, the problems on stderr too).
	ref, _ := filepath.Abs(filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-gelu", "model.safetensors"))
	out = mustTrak(t, dir, "inspect", ref, "--format", "json")
	checkJSONShape(t, "inspect", out, readme)
	var ins inspectReport
	if err := json.Unmarshal([]byte(out), &ins); err != nil || !ins.OK || len(ins.Problems) != 0 || ins.Architecture == nil ||
		ins.Architecture.TotalParameters != 60673 || ins.Architecture.Vision.Parameters != 32384 || ins.Temperature == nil || ins.Tensors.Count != 62 {
		t.Errorf("inspect --format json: %v\n%s", err, out)
	}
	alone := filepath.Join(dir, "alone.safetensors")
	data, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := trak(t, dir, "inspect", alone, "--model-config", "ViT-B-32", "--format", "json")
	ins = inspectReport{}
	if err := json.Unmarshal([]byte(out), &ins); code != 1 || err != nil || ins.OK || len(ins.Problems) == 0 || !strings.Contains(errOut, ins.Problems[0]) {
		t.Errorf("inspect --format json with problems: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
}

// complete runs `trak __complete args...` in dir and returns the offered
// values (descriptions cut off) and the directive.
func complete(t *testing.T, dir string, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	out := mustTrak(t, dir, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var d int
	if _, err := fmt.Sscanf(lines[len(lines)-1], ":%d", &d); err != nil {
		t.Fatalf("__complete %v: no directive in %q", args, out)
	}
	var vals []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		vals = append(vals, v)
	}
	return vals, cobra.ShellCompDirective(d)
}

// TestCompletion: flag values complete through __complete, from fixed sets,
// presets, and the store the command line points at; `trak completion`
// writes each shell's script.
func TestCompletion(t *testing.T) {
	f := newFixture(t, 30, 2, 3, 3, 2)
	cfg := f.writeConfig(t, "projector:\n  dim: 8\n")
	featurizeAll(t, f, cfg)
	mustTrak(t, f.dir, "finalize", "--config", cfg, "--model-id", "0")
	mustTrak(t, f.dir, "score", "--config", cfg, "--skip-unfinished", "--exp", "val")
	mustTrak(t, f.dir, "score", "--config", cfg, "--skip-unfinished", "--exp", "holdout")
	noFiles := cobra.ShellCompDirectiveNoFileComp

	for _, tt := range []struct {
		args []string
		want []string
		dir  cobra.ShellCompDirective
	}{
		{[]string{"version", "--format", ""}, []string{"text", "json"}, noFiles},
		{[]string{"inspect", "x", "--format", ""}, []string{"text", "json"}, noFiles},
		{[]string{"doctor", "--format", ""}, []string{"text", "json"}, noFiles},
		{[]string{"config", "show", "--format", ""}, []string{"text", "json"}, noFiles},
		{[]string{"top", "--format", ""}, []string{"tsv", "json"}, noFiles},
		{[]string{"featurize", "--device", ""}, []string{"auto", "cpu", "cuda"}, noFiles},
		{[]string{"featurize", "--projector-type", ""}, []string{"rademacher", "normal", "none"}, noFiles},
		{[]string{"demo", "--task", ""}, []string{"clip", "logreg"}, noFiles},
		{[]string{"inspect", "x", "--model-config", ""}, clip.PresetNames(), noFiles},
		{[]string{"train", "--model-config", "ViT-L"}, []string{"ViT-L-14", "ViT-L-14-quickgelu"}, noFiles},
		{[]string{"train", "--model-config", "configs/"}, []string{"json"}, cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"top", "--save-dir", "store", "--exp", ""}, []string{"holdout", "val"}, noFiles},
		{[]string{"top", "--config", cfg, "--exp", ""}, []string{"holdout", "val"}, noFiles},
		{[]string{"config", "show", "--save-dir", "nowhere", "--exp", ""}, nil, noFiles},
		{[]string{"finalize", "--config", cfg, "--model-id", ""}, []string{"0", "1"}, noFiles | cobra.ShellCompDirectiveKeepOrder},
		{[]string{"featurize", "--save-dir", "store", "--model-id", ""}, []string{"0", "1"}, noFiles | cobra.ShellCompDirectiveKeepOrder},
		{[]string{"featurize", "--save-dir", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
	} {
		got, d := complete(t, f.dir, tt.args...)
		if !slices.Equal(got, tt.want) || d != tt.dir {
			t.Errorf("__complete %q: %q, directive %d; want %q, directive %d", tt.args, got, d, tt.want, tt.dir)
		}
	}

	// Every value offered for a config key's flag is a valid setting.
	for _, flag := range []string{"task", "projector-type", "features-dtype", "on-bad-example", "image-mode", "data-format"} {
		vals, _ := complete(t, f.dir, "config", "show", "--"+flag, "")
		if len(vals) < 2 {
			t.Errorf("--%s completes to %q", flag, vals)
		}
		for _, v := range vals {
			if _, errOut, code := trak(t, f.dir, "config", "show", "--"+flag, v); code != 0 {
				t.Errorf("--%s %s is offered but refused: %s", flag, v, errOut)
			}
		}
	}

	for shell, want := range map[string]string{"bash": "__start_trak", "zsh": "#compdef trak", "fish": "complete -c trak", "powershell": "Register-ArgumentCompleter"} {
		if out := mustTrak(t, f.dir, "completion", shell); !strings.Contains(out, want) {
			t.Errorf("trak completion %s does not write a %s script", shell, shell)
		}
	}
}
