package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
)

func testIO() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// runCmd parses args for cmd without running its work.
func runCmd(cmd *cobra.Command, args ...string) error {
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	cmd.SetArgs(args)
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	return cmd.ExecuteContext(context.Background())
}

func TestNewCmdFeaturize(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "run.yaml")
	os.WriteFile(cfg, []byte("save_dir: s\ntrain_data: t.csv\ncheckpoint: c.npy\nbatch_size: 8\n"), 0o644)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(*testing.T, *FeaturizeOptions)
	}{
		{name: "flags only", args: []string{"--save-dir", "s", "--train-data", "t.csv", "--checkpoint", "c.npy", "--model-id", "3"},
			check: func(t *testing.T, o *FeaturizeOptions) {
				if o.Config.ModelID != 3 || o.Config.SaveDir != "s" || o.Shard != (featurize.Shard{}) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "config file, paths relative to it", args: []string{"--config", cfg},
			check: func(t *testing.T, o *FeaturizeOptions) {
				if o.Config.SaveDir != filepath.Join(dir, "s") || o.Config.BatchSize != 8 {
					t.Errorf("%+v", o.Config)
				}
			}},
		{name: "flag beats env beats file", args: []string{"--config", cfg, "--batch-size", "2"}, env: map[string]string{"TRAK_BATCH_SIZE": "4"},
			check: func(t *testing.T, o *FeaturizeOptions) {
				if o.Config.BatchSize != 2 {
					t.Errorf("batch size %d, want the flag's 2", o.Config.BatchSize)
				}
			}},
		{name: "env beats file", args: []string{"--config", cfg}, env: map[string]string{"TRAK_BATCH_SIZE": "4"},
			check: func(t *testing.T, o *FeaturizeOptions) {
				if o.Config.BatchSize != 4 {
					t.Errorf("batch size %d, want the environment's 4", o.Config.BatchSize)
				}
			}},
		{name: "shard", args: []string{"--config", cfg, "--shard", "2/5"},
			check: func(t *testing.T, o *FeaturizeOptions) {
				if o.Shard != (featurize.Shard{Index: 2, Count: 5}) {
					t.Errorf("shard %+v", o.Shard)
				}
			}},
		{name: "bad shard", args: []string{"--config", cfg, "--shard", "5/5"}, wantErr: "invalid shard"},
		{name: "missing save_dir", args: []string{"--train-data", "t", "--checkpoint", "c"}, wantErr: "save_dir is not set"},
		{name: "positional argument", args: []string{"--config", cfg, "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			io, _, _ := testIO()
			var got *FeaturizeOptions
			cmd := newCmdFeaturize(io, func(_ context.Context, o *FeaturizeOptions) error { got = o; return nil })
			err := runCmd(cmd, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

func TestNewCmdTop(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    TopOptions
	}{
		{name: "defaults", args: []string{"--save-dir", "s", "--exp", "e"}, want: TopOptions{K: 10, Format: "tsv"}},
		{name: "all flags", args: []string{"--save-dir", "s", "--exp", "e", "-k", "3", "--opponents", "--format", "json", "--target", "1", "--target", "4", "--header"},
			want: TopOptions{K: 3, Opponents: true, Format: "json", Targets: []int{1, 4}, Header: true}},
		{name: "bad k", args: []string{"--save-dir", "s", "--exp", "e", "-k", "0"}, wantErr: "-k must be at least 1"},
		{name: "bad format", args: []string{"--save-dir", "s", "--exp", "e", "--format", "xml"}, wantErr: "tsv or json"},
		{name: "no exp", args: []string{"--save-dir", "s"}, wantErr: "exp is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdTop, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, func(t *testing.T, o *TopOptions, io *IOStreams) {
				if o.IO != io || o.Config.SaveDir != "s" || o.Config.Exp != "e" {
					t.Errorf("IO %p (want %p), save_dir %q, exp %q", o.IO, io, o.Config.SaveDir, o.Config.Exp)
				}
				o.IO, o.Config = nil, config.Config{}
			})
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "trak "},
		{[]string{"--help"}, 0, "EXIT STATUS"},
		{[]string{"nonsense"}, 2, ""},
		{[]string{"featurize", "--nope"}, 2, ""},
		{[]string{"finalize", "--save-dir", "/nonexistent/store"}, 1, ""},
		{[]string{"config", "keys"}, 0, "projector.dim"},
	}
	for _, tt := range tests {
		io, out, errOut := testIO()
		if code := Main(tt.args, io); code != tt.code {
			t.Errorf("trak %v: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errOut)
		}
		if !strings.Contains(out.String(), tt.out) {
			t.Errorf("trak %v: stdout %q lacks %q", tt.args, out, tt.out)
		}
	}
}

func TestConfigShowRoundTrip(t *testing.T) {
	io, out, _ := testIO()
	t.Setenv("TRAK_PROJECTOR_DIM", "77")
	if code := Main([]string{"config", "show", "--lambda", "0.5", "--save-dir", "/tmp/x y"}, io); code != 0 {
		t.Fatalf("exit %d", code)
	}
	path := filepath.Join(t.TempDir(), "shown.yaml")
	os.WriteFile(path, out.Bytes(), 0o644)
	os.Unsetenv("TRAK_PROJECTOR_DIM")
	c, err := config.Load(config.Sources{File: path})
	if err != nil {
		t.Fatalf("config show output does not load: %v\n%s", err, out)
	}
	if c.Projector.Dim != 77 || c.Lambda != 0.5 || c.SaveDir != "/tmp/x y" {
		t.Errorf("round trip lost values: %+v", c)
	}
}

// TestReadmeDocumentsEverything keeps the README's reference complete.
func TestReadmeDocumentsEverything(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, k := range config.Keys {
		if !strings.Contains(readme, "`"+k.Name+"`") {
			t.Errorf("README does not document config key %s", k.Name)
		}
	}
	io, _, _ := testIO()
	for _, c := range newRootCmd(io).Commands() {
		if !c.Hidden && c.Name() != "help" && c.Name() != "completion" && !strings.Contains(readme, "`trak "+c.Name()) {
			t.Errorf("README does not document command %s", c.Name())
		}
	}

	// Every package under internal/ has a row in the Layout table, and
	// every row names a path that exists.
	_, layout, _ := strings.Cut(readme, "\n## Layout\n")
	layout, _, _ = strings.Cut(layout, "\n## ")
	rows := map[string]bool{}
	for _, line := range strings.Split(layout, "\n") {
		if cell, ok := strings.CutPrefix(line, "| `"); ok {
			if p, _, ok := strings.Cut(cell, "` |"); ok {
				rows[p] = true
			}
		}
	}
	if len(rows) == 0 {
		t.Fatal("README has no Layout table")
	}
	err = filepath.WalkDir("../../internal", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if gofiles, _ := filepath.Glob(filepath.Join(path, "*.go")); len(gofiles) > 0 {
			rel, _ := filepath.Rel("../..", path)
			if !rows[filepath.ToSlash(rel)] {
				t.Errorf("README's Layout table has no row for package %s", filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range rows {
		if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
			t.Errorf("README's Layout table names %s, which does not exist", p)
		}
	}

	// Every design document is linked from the README.
	docs, _ := filepath.Glob("../../docs/*.md")
	if len(docs) == 0 {
		t.Error("no design documents in docs/")
	}
	for _, d := range docs {
		if link := "(docs/" + filepath.Base(d) + ")"; !strings.Contains(readme, link) {
			t.Errorf("README does not link docs/%s", filepath.Base(d))
		}
	}
}

// TestExampleConfigsLoad keeps the shipped example configs valid.
func TestExampleConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) < 2 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		if _, err := config.Load(config.Sources{File: f}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
