package main

// End-to-end tests of the --device hand-off on a machine without a GPU: a
// trak built with -tags trak_testhooks (whose TRAK_TEST_NVIDIA fakes the
// driver and devices) and, next to it or on PATH, a fake trak-cuda
// (testdata/fakecuda) that records its arguments and environment and then
// runs the command with that same trak, as the CUDA build would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// handoffRig holds the test build of trak and the fake trak-cuda beside it.
type handoffRig struct {
	dir  string // trak and trak-cuda
	trak string
	cuda string
	log  string // fakecuda's record of its runs
}

func newHandoffRig(t *testing.T) *handoffRig {
	t.Helper()
	needE2E(t)
	dir := t.TempDir()
	r := &handoffRig{dir: dir, trak: filepath.Join(dir, "trak"), cuda: filepath.Join(dir, cudaBinary), log: filepath.Join(t.TempDir(), "fakecuda.log")}
	for _, b := range [][]string{
		{"build", "-tags", "trak_testhooks", "-o", r.trak, "."},
		{"build", "-o", r.cuda, "./testdata/fakecuda"},
	} {
		if out, err := exec.Command("go", b...).CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(b, " "), err, out)
		}
	}
	return r
}

// handoffRecord is one run of the fake trak-cuda.
type handoffRecord struct {
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

// env is the environment of a run: no TRAK_* variable of the caller, the
// faked NVIDIA state, the fake's settings, and extra.
func (r *handoffRig) env(nvidia string, extra ...string) []string {
	env := append(cleanEnv(), "TRAK_TEST_NVIDIA="+nvidia, "FAKECUDA_LOG="+r.log, "FAKECUDA_EXEC="+r.trak)
	return append(env, extra...)
}

// run runs bin with args in dir and env.
func (r *handoffRig) run(t *testing.T, bin, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// records returns the fake trak-cuda's runs since the last call.
func (r *handoffRig) records(t *testing.T) []handoffRecord {
	t.Helper()
	f, err := os.Open(r.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(r.log)
	defer f.Close()
	var recs []handoffRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec handoffRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("fakecuda log: %v: %s", err, sc.Bytes())
		}
		recs = append(recs, rec)
	}
	return recs
}

// wantHandoff checks that exactly one trak-cuda run received args and the
// hand-off marker, and that trak said where the command went.
func (r *handoffRig) wantHandoff(t *testing.T, errOut string, args []string) {
	t.Helper()
	recs := r.records(t)
	if len(recs) != 1 {
		t.Fatalf("trak-cuda ran %d times, want once: %+v\nstderr:\n%s", len(recs), recs, errOut)
	}
	if !slices.Equal(recs[0].Args, args) {
		t.Errorf("trak-cuda got arguments %q, want the whole command line %q", recs[0].Args, args)
	}
	if recs[0].Env["TRAK_HANDOFF"] != "1" {
		t.Errorf("trak-cuda ran without TRAK_HANDOFF=1: %v", recs[0].Env)
	}
	if !strings.Contains(errOut, "running on the GPU through "+r.cuda) {
		t.Errorf("stderr does not say where the command went:\n%s", errOut)
	}
}

// TestDeviceHandoff builds the test trak and the fake trak-cuda once and
// runs the hand-off tests with them.
func TestDeviceHandoff(t *testing.T) {
	rig := newHandoffRig(t)
	t.Run("commands", func(t *testing.T) { testHandoffCommands(t, rig) })
	t.Run("lookup", func(t *testing.T) { testHandoffLookup(t, rig) })
	t.Run("doctor", func(t *testing.T) { testDoctorRunsTrakCUDA(t, rig) })
}

// testHandoffCommands runs every command that --device places (featurize,
// score, train, demo) through the real hand-off: trak finds trak-cuda,
// passes it the command line with TRAK_HANDOFF set, and the command runs to
// the end there, loading its configuration with TRAK_HANDOFF, TRAK_CUBLAS
// and TRAK_TEST_NVIDIA in the environment.
func testHandoffCommands(t *testing.T, rig *handoffRig) {
	env := rig.env("gpu", "TRAK_CUBLAS=/nowhere/libcublas.so.12")
	f := newFixture(t, 40, 3, 4, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 8\n")

	steps := []struct {
		name  string
		dir   string
		args  []string
		check string // a file the command must have written, relative to dir
	}{
		{"featurize", f.dir, []string{"featurize", "--device", "cuda", "--config", cfg, "--checkpoint", "ckpt0.npy"}, "store/0/grads.npy"},
		{"finalize (not handed off)", f.dir, []string{"finalize", "--device", "cuda", "--config", cfg}, "store/0/features.npy"},
		{"score", f.dir, []string{"score", "--device", "cuda", "--config", cfg}, "store/scores/val.npy"},
		{"demo", f.dir, []string{"demo", "--task", "logreg", "--device", "cuda", "--quiet", "--dir", "demo", "--train", "60", "--targets", "4"}, "demo/store/scores/targets.npy"},
	}
	clipDir := clipFixture(t, 8, 0)
	steps = append(steps, struct {
		name, dir string
		args      []string
		check     string
	}{"train (auto)", clipDir, []string{"train", "--device", "auto", "--data", "train.csv", "--model-config", "model.json", "--out", "a", "--epochs", "1", "--batch-size", "4", "--workers", "1"}, "a/epoch_1.safetensors"})

	for _, s := range steps {
		_, errOut, code := rig.run(t, rig.trak, s.dir, env, s.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", s.name, code, errOut)
		}
		if strings.Contains(errOut, "unknown environment variable") {
			t.Errorf("%s: %s", s.name, errOut)
		}
		if s.args[0] == "finalize" {
			if recs := rig.records(t); len(recs) != 0 {
				t.Errorf("finalize was handed off: %+v", recs)
			}
		} else {
			rig.wantHandoff(t, errOut, s.args)
		}
		if _, err := os.Stat(filepath.Join(s.dir, s.check)); err != nil {
			t.Errorf("%s did not run to the end: %v\n%s", s.name, err, errOut)
		}
	}
}

// testHandoffLookup: trak-cuda is found next to trak or on PATH; its exit
// status is trak's; what is missing is named in one line.
func testHandoffLookup(t *testing.T, rig *handoffRig) {
	work := t.TempDir()
	// A trak with no trak-cuda beside it, and a PATH with none on it.
	alone := filepath.Join(t.TempDir(), "trak")
	data, err := os.ReadFile(rig.trak)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	emptyPath := "PATH=" + t.TempDir()
	args := []string{"demo", "--task", "logreg", "--quiet", "--dir", "d", "--train", "60", "--targets", "4"}
	withDevice := func(device string) []string { return append(slices.Clone(args), "--device", device) }

	t.Run("on PATH", func(t *testing.T) {
		_, errOut, code := rig.run(t, alone, work, rig.env("gpu", "PATH="+rig.dir, "FAKECUDA_EXEC="), withDevice("cuda")...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		rig.wantHandoff(t, errOut, withDevice("cuda"))
	})
	t.Run("exit status passed on", func(t *testing.T) {
		_, errOut, code := rig.run(t, rig.trak, work, rig.env("gpu", "FAKECUDA_EXEC=", "FAKECUDA_EXIT=3"), withDevice("auto")...)
		if code != 3 {
			t.Errorf("exit %d, want trak-cuda's 3\n%s", code, errOut)
		}
		rig.wantHandoff(t, errOut, withDevice("auto"))
	})
	for _, tt := range []struct {
		name, bin, nvidia, device string
		env                       []string
		want                      string
	}{
		{"no driver", rig.trak, "none", "cuda", nil, "no NVIDIA driver is loaded"},
		{"no device", rig.trak, "driver", "cuda", nil, "no /dev/nvidiaN device is visible"},
		{"no trak-cuda", alone, "gpu", "cuda", []string{emptyPath}, "--device cuda needs trak-cuda"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := rig.run(t, tt.bin, work, rig.env(tt.nvidia, tt.env...), withDevice(tt.device)...)
			if code != 1 || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, want 1 and one line naming %q:\n%s", code, tt.want, errOut)
			}
			if recs := rig.records(t); len(recs) != 0 {
				t.Errorf("trak-cuda ran: %+v", recs)
			}
		})
	}
	for _, tt := range []struct {
		name, bin, nvidia, device string
		env                       []string
		note                      string
	}{
		{"auto without a GPU runs here", rig.trak, "none", "auto", nil, ""},
		{"cpu runs here", rig.trak, "gpu", "cpu", nil, ""},
		{"auto without trak-cuda runs here", alone, "gpu", "auto", []string{emptyPath}, "trak-cuda is not installed; running on the CPU"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := rig.run(t, tt.bin, work, rig.env(tt.nvidia, tt.env...), withDevice(tt.device)...)
			if code != 0 || !strings.Contains(errOut, tt.note) || strings.Contains(errOut, "running on the GPU") {
				t.Errorf("exit %d:\n%s", code, errOut)
			}
			if recs := rig.records(t); len(recs) != 0 {
				t.Errorf("trak-cuda ran: %+v", recs)
			}
		})
	}
	t.Run("bad test hook value", func(t *testing.T) {
		_, errOut, code := rig.run(t, rig.trak, work, rig.env("yes"), withDevice("cuda")...)
		if code != 1 || !strings.Contains(errOut, `TRAK_TEST_NVIDIA="yes"`) {
			t.Errorf("exit %d:\n%s", code, errOut)
		}
	})
}

// testDoctorRunsTrakCUDA: doctor appends trak-cuda's own report, in text
// or JSON, and a trak-cuda that is a CPU build does not start itself again.
func testDoctorRunsTrakCUDA(t *testing.T, rig *handoffRig) {
	out, errOut, code := rig.run(t, rig.trak, t.TempDir(), rig.env("gpu"), "doctor")
	if code != 0 || !strings.Contains(out, "--- trak-cuda doctor") || !strings.Contains(out, rig.cuda) {
		t.Fatalf("doctor: exit %d\n%s\n%s", code, out, errOut)
	}
	if recs := rig.records(t); len(recs) != 1 || !slices.Equal(recs[0].Args, []string{"doctor"}) || recs[0].Env["TRAK_HANDOFF"] != "1" {
		t.Errorf("trak-cuda runs: %+v, want one `doctor` with TRAK_HANDOFF=1", recs)
	}

	out, errOut, code = rig.run(t, rig.trak, t.TempDir(), rig.env("gpu"), "doctor", "--format", "json")
	if code != 0 {
		t.Fatalf("doctor --format json: exit %d\n%s", code, errOut)
	}
	var rep struct {
		NVIDIA struct {
			Driver  string   `json:"driver"`
			Devices []string `json:"devices"`
		} `json:"nvidia"`
		TrakCUDA struct {
			Path   string `json:"path"`
			Doctor *struct {
				CUDA     bool `json:"cuda"`
				TrakCUDA struct {
					Path string `json:"path"`
				} `json:"trak_cuda"`
			} `json:"doctor"`
		} `json:"trak_cuda"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --format json: %v\n%s", err, out)
	}
	if rep.NVIDIA.Driver == "" || len(rep.NVIDIA.Devices) != 1 || rep.TrakCUDA.Path != rig.cuda || rep.TrakCUDA.Doctor == nil {
		t.Errorf("doctor --format json: %+v\n%s", rep, out)
	}
	if recs := rig.records(t); len(recs) != 1 || !slices.Equal(recs[0].Args, []string{"doctor", "--format", "json"}) {
		t.Errorf("trak-cuda runs: %+v", recs)
	}
}
