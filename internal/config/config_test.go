package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// flagSet returns flags bound to keys as the commands bind them, after
// parsing args.
func flagSet(t *testing.T, args ...string) map[string]*pflag.Flag {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Int("model-id", 0, "")
	fs.String("save-dir", "", "")
	fs.Int("projector-dim", 0, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return map[string]*pflag.Flag{
		"model_id":      fs.Lookup("model-id"),
		"save_dir":      fs.Lookup("save-dir"),
		"projector.dim": fs.Lookup("projector-dim"),
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		wantDim int
		wantID  int
	}{
		{name: "default", wantDim: 2048, wantID: 0},
		{name: "file over default", file: "projector:\n  dim: 64\nmodel_id: 3\n", wantDim: 64, wantID: 3},
		{name: "env over file", file: "projector:\n  dim: 64\n", env: map[string]string{"TRAK_PROJECTOR_DIM": "128"}, wantDim: 128},
		{name: "flag over env", file: "projector:\n  dim: 64\n", env: map[string]string{"TRAK_PROJECTOR_DIM": "128"}, args: []string{"--projector-dim=256"}, wantDim: 256},
		{name: "flag over file", file: "model_id: 3\n", args: []string{"--model-id=5"}, wantDim: 2048, wantID: 5},
		{name: "unset flag keeps file", file: "model_id: 3\n", args: []string{}, wantDim: 2048, wantID: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			src := Sources{Flags: flagSet(t, tt.args...)}
			if tt.file != "" {
				src.File = writeConfig(t, tt.file)
			}
			c, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if c.Projector.Dim != tt.wantDim || c.ModelID != tt.wantID {
				t.Errorf("dim, model id = %d, %d; want %d, %d", c.Projector.Dim, c.ModelID, tt.wantDim, tt.wantID)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // substrings of the error
	}{
		{name: "unknown key", file: "save_dri: x\n", want: []string{"unknown key save_dri", "did you mean save_dir?"}},
		{name: "unknown nested key", file: "projector:\n  dims: 3\n", want: []string{"unknown key projector.dims", "did you mean projector.dim?"}},
		{name: "far-off key", file: "completely_unrelated_setting_name: 1\n", want: []string{"unknown key completely_unrelated_setting_name", "trak config keys"}},
		{name: "section as scalar", file: "projector: rademacher\n", want: []string{"projector is a section", "projector.type"}},
		{name: "unknown env", env: map[string]string{"TRAK_PROJECTOR_DIMS": "3"}, want: []string{"unknown environment variable TRAK_PROJECTOR_DIMS", "TRAK_PROJECTOR_DIM?"}},
		{name: "bad integer", file: "batch_size: lots\n", want: []string{"batch_size", "want an integer"}},
		{name: "fractional integer", file: "projector:\n  dim: 64.5\n", want: []string{"projector.dim", "want an integer", "64.5"}},
		{name: "fractional integer from env", env: map[string]string{"TRAK_SIM_BATCH_SIZE": "2.5"}, want: []string{"sim_batch_size", "want an integer"}},
		{name: "bad integer from env", env: map[string]string{"TRAK_BATCH_SIZE": "x"}, want: []string{"batch_size (from environment variable TRAK_BATCH_SIZE)"}},
		{name: "bad projector", file: "projector:\n  type: gaussian\n", want: []string{"unknown projector \"gaussian\"", "rademacher, normal, sjlt or none"}},
		{name: "s zero", file: "projector:\n  type: sjlt\n  s: 0\n", want: []string{"projector.s (from", "must be ≥ 1, got 0"}},
		{name: "s above k", file: "projector:\n  type: sjlt\n  dim: 8\n", env: map[string]string{"TRAK_PROJECTOR_S": "9"}, want: []string{"projector.s (from environment variable TRAK_PROJECTOR_S)", "at most projector.dim = 8, got 9"}},
		{name: "s fractional", file: "projector:\n  s: 1.5\n", want: []string{"projector.s", "want an integer"}},
		{name: "negative lambda", file: "lambda: -1\n", want: []string{"lambda", "≥ 0"}},
		{name: "negative lambda_rel", file: "lambda_rel: -0.1\n", want: []string{"lambda_rel", "≥ 0"}},
		{name: "lambda and lambda_rel", file: "lambda: 0.5\nlambda_rel: 0.1\n", want: []string{"lambda_rel", "set one"}},
		{name: "bad dtype", file: "features_dtype: int8\n", want: []string{"features_dtype", "float32 or float16"}},
		{name: "bad exp", file: "exp: ../x\n", want: []string{"exp", "letters, digits"}},
		{name: "yaml syntax", file: "a: [\n", want: []string{"parse config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			src := Sources{}
			if tt.file != "" {
				src.File = writeConfig(t, tt.file)
			}
			_, err := Load(src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// loadFileEnv loads the config with file as the YAML file (none when
// empty) and env set in the environment; it fails the test on an error.
func loadFileEnv(t *testing.T, file string, env map[string]string) Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	src := Sources{}
	if file != "" {
		src.File = writeConfig(t, file)
	}
	c, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// projector.s: the default 4, from the file, the environment and a flag;
// the default is lowered to k when k is smaller, and ignored (not checked
// against k) by the dense projectors.
func TestProjectorS(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		want int
	}{
		{"default", "", nil, 4},
		{"file", "projector:\n  type: sjlt\n  s: 2\n", nil, 2},
		{"env over file", "projector:\n  type: sjlt\n  s: 2\n", map[string]string{"TRAK_PROJECTOR_S": "8"}, 8},
		{"default lowered to k", "projector:\n  type: sjlt\n  dim: 3\n", nil, 3},
		{"ignored by rademacher", "projector:\n  dim: 3\n  s: 8\n", nil, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadFileEnv(t, tc.file, tc.env)
			if c.Projector.S != tc.want {
				t.Errorf("projector.s = %d, want %d", c.Projector.S, tc.want)
			}
		})
	}
}

// The ridge terms: lambda_rel by default; a lambda that is set replaces
// it; lambda_rel may be set alone or with lambda 0.
func TestLambdaRel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		env      map[string]string
		lam, rel float64
	}{
		{"default", "", nil, 0, 0.01},
		{"lambda set", "lambda: 0.5\n", nil, 0.5, 0},
		{"lambda 0 set", "lambda: 0\n", nil, 0, 0},
		{"lambda from env", "", map[string]string{"TRAK_LAMBDA": "2"}, 2, 0},
		{"lambda_rel set", "lambda_rel: 0.1\n", nil, 0, 0.1},
		{"both, lambda 0", "lambda: 0\nlambda_rel: 0.1\n", nil, 0, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadFileEnv(t, tc.file, tc.env)
			if c.Lambda != tc.lam || c.LambdaRel != tc.rel {
				t.Errorf("lambda %g, lambda_rel %g; want %g, %g", c.Lambda, c.LambdaRel, tc.lam, tc.rel)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(Sources{File: filepath.Join(t.TempDir(), "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestRelativePaths(t *testing.T) {
	path := writeConfig(t, "save_dir: store\ntrain_data: /abs/train.csv\n")
	t.Setenv("TRAK_CHECKPOINT", "ckpt.npy")
	c, err := Load(Sources{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "store"); c.SaveDir != want {
		t.Errorf("save_dir = %q, want %q (relative to the config file)", c.SaveDir, want)
	}
	if c.TrainData != "/abs/train.csv" {
		t.Errorf("train_data = %q, absolute paths stay", c.TrainData)
	}
	if c.Checkpoint != "ckpt.npy" {
		t.Errorf("checkpoint = %q: paths from the environment stay relative to the working directory", c.Checkpoint)
	}
}

func TestExtraEnvAllowed(t *testing.T) {
	t.Setenv("TRAK_PROGRESS", "plain")
	if _, err := Load(Sources{ExtraEnv: []string{"TRAK_PROGRESS"}}); err != nil {
		t.Fatal(err)
	}
}

func TestEveryKeyHasEnvAndDefault(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if seen[k.Name] {
			t.Errorf("duplicate key %s", k.Name)
		}
		seen[k.Name] = true
		if k.Doc == "" {
			t.Errorf("key %s has no doc", k.Name)
		}
		if !strings.HasPrefix(EnvName(k.Name), "TRAK_") || strings.ContainsAny(EnvName(k.Name), ".abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("EnvName(%s) = %s", k.Name, EnvName(k.Name))
		}
	}
	if _, err := Load(Sources{}); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"save_dri", "save_dir", 2}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestModelConfigPresetOrPath(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"ViT-B-32", "ViT-B-32"},
		{"model.json", "DIR/model.json"},
		{"clip/model.json", "DIR/clip/model.json"},
	} {
		path := writeConfig(t, "model_config: "+c.value+"\n")
		cfg, err := Load(Sources{File: path})
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Replace(c.want, "DIR", filepath.Dir(path), 1); cfg.ModelConfig != want {
			t.Errorf("model_config %q → %q, want %q", c.value, cfg.ModelConfig, want)
		}
	}
}
