package main

// End-to-end tests of the store's integrity checks: a damaged, incomplete,
// foreign or edited store, and scores whose inputs changed since, must each
// stop the command with an error that names the file and the fix, never
// give wrong scores with exit status 0. Each test damages a store the way a
// user or a crash could, then runs the real binary.

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/trak-dev/trak/internal/npy"
)

// scoredStore featurizes two logreg checkpoints into <dir>/store, finalizes
// them with λ = 0.01 and scores the targets as experiment val; it returns
// the fixture and its config.
func scoredStore(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t, 40, 3, 4, 3, 2)
	cfg := f.writeConfig(t, "projector:\n  dim: 8\nlambda: 0.01\n")
	featurizeAll(t, f, cfg)
	mustTrak(t, f.dir, "finalize", "--config", cfg)
	mustTrak(t, f.dir, "score", "--config", cfg)
	return f, cfg
}

// wantFail runs trak and checks that it exits with status 1 and that stderr
// mentions every string of want.
func wantFail(t *testing.T, dir string, want []string, args ...string) string {
	t.Helper()
	_, errOut, code := trak(t, dir, args...)
	if code != 1 {
		t.Errorf("trak %s: exit %d, want 1; stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("trak %s: stderr does not mention %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
	return errOut
}

// setFloat32 overwrites element i of the float32 .npy file at path.
func setFloat32(t *testing.T, path string, i int, v float32) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, off, err := npy.DecodeHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
	if _, err := f.WriteAt(b[:], off+int64(4*i)); err != nil {
		t.Fatal(err)
	}
}

// editJSON rewrites the JSON file at path through edit.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeletedTrainArray: a train array deleted while its flags survive is
// never re-created zero-filled under those flags: featurize, finalize and
// score stop naming it and the fix, and the fix works.
func TestDeletedTrainArray(t *testing.T) {
	for _, name := range []string{"grads.npy", "out_to_loss.npy"} {
		t.Run(name, func(t *testing.T) {
			f, cfg := scoredStore(t)
			model := filepath.Join("store", "0")
			path := filepath.Join(model, name)
			os.Remove(filepath.Join(f.dir, path))
			want := []string{path + " is missing", "is_featurized.npy marks 40 of 40 rows done", string(filepath.Separator) + model + " and featurize model 0 again"}
			wantFail(t, f.dir, want, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--model-id", "0")
			if _, err := os.Stat(filepath.Join(f.dir, path)); err == nil {
				t.Fatalf("%s was re-created", path)
			}
			wantFail(t, f.dir, []string{path}, "finalize", "--config", cfg)
			wantFail(t, f.dir, []string{path}, "score", "--config", cfg)
			// The failed score run withdrew the experiment's scores.
			wantFail(t, f.dir, []string{"no scores", "trak score --exp val"}, "top", "--config", cfg)

			os.RemoveAll(filepath.Join(f.dir, model))
			mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--model-id", "0")
			mustTrak(t, f.dir, "finalize", "--config", cfg)
			mustTrak(t, f.dir, "score", "--config", cfg)
			mustTrak(t, f.dir, "top", "--config", cfg)
		})
	}
}

// TestDeletedFlags: deleted row flags come back all pending, so featurize
// computes every row again (to the same values) instead of trusting any.
func TestDeletedFlags(t *testing.T) {
	f, cfg := scoredStore(t)
	before, _ := os.ReadFile(filepath.Join(f.dir, "store", "0", "grads.npy"))
	os.Remove(filepath.Join(f.dir, "store", "0", "is_featurized.npy"))
	mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--model-id", "0")
	after, _ := os.ReadFile(filepath.Join(f.dir, "store", "0", "grads.npy"))
	if string(before) != string(after) {
		t.Error("grads.npy computed again differs")
	}
	_, flags, _ := npy.ReadFile(filepath.Join(f.dir, "store", "0", "is_featurized.npy"))
	for i, v := range flags {
		if v != 1 {
			t.Fatalf("row %d flag %d after the rerun, want 1", i, v)
		}
	}
}

// TestDeletedEmbeddingTable: a CLIP embedding table array deleted under
// its flags stops featurize and score naming it.
func TestDeletedEmbeddingTable(t *testing.T) {
	dir := clipFixture(t, 10, 1)
	cfg := writeFile(t, dir, "run.yaml", "save_dir: store\ntask: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 8\nlambda: 0.1\nsim_batch_size: 4\n")
	mustTrak(t, dir, "featurize", "--config", cfg)
	mustTrak(t, dir, "finalize", "--config", cfg)
	path := filepath.Join("store", "0", "embeddings_text.npy")
	os.Remove(filepath.Join(dir, path))
	want := []string{path + " is missing", "is_embedded.npy marks 10 of 10 rows done", "featurize model 0 again"}
	wantFail(t, dir, want, "featurize", "--config", cfg)
	wantFail(t, dir, want, "score", "--config", cfg)
	if _, err := os.Stat(filepath.Join(dir, path)); err == nil {
		t.Errorf("%s was re-created", path)
	}
}

// TestDeletedModelMeta: with <id>/meta.json gone, another checkpoint cannot
// take over the model's arrays, and finalize and score do not silently
// leave the model out.
func TestDeletedModelMeta(t *testing.T) {
	f, cfg := scoredStore(t)
	os.Remove(filepath.Join(f.dir, "store", "0", "meta.json"))
	want := []string{filepath.Join("store", "0") + " holds", "no meta.json", filepath.Join("store", "0") + " and featurize model 0 again"}
	wantFail(t, f.dir, want, "featurize", "--config", cfg, "--checkpoint", "ckpt1.npy", "--model-id", "0")
	wantFail(t, f.dir, want, "finalize", "--config", cfg)
	wantFail(t, f.dir, want, "score", "--config", cfg)
	wantFail(t, f.dir, want, "top", "--config", cfg)
}

// TestForeignArray: an array copied in from another model directory (with
// its record, or without one) is refused.
func TestForeignArray(t *testing.T) {
	f, cfg := scoredStore(t)
	for _, name := range []string{"grads.npy", "grads.npy.json"} {
		b, _ := os.ReadFile(filepath.Join(f.dir, "store", "1", name))
		os.WriteFile(filepath.Join(f.dir, "store", "0", name), b, 0o644)
	}
	wantFail(t, f.dir, []string{filepath.Join("store", "0", "grads.npy") + " belongs to another model directory", "featurize model 0 again"},
		"featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--model-id", "0")
	os.Remove(filepath.Join(f.dir, "store", "0", "grads.npy.json"))
	wantFail(t, f.dir, []string{"grads.npy has no record grads.npy.json"}, "finalize", "--config", cfg)
}

// TestNonFiniteInputs: NaN or infinity in what score reads is an error
// naming the file, the row and the fix, and the fix works. With the stamps
// finalize records, the change itself is caught; without them (a store
// finalized by an older trak), the value is.
func TestNonFiniteInputs(t *testing.T) {
	t.Run("features.npy", func(t *testing.T) {
		f, cfg := scoredStore(t)
		setFloat32(t, filepath.Join(f.dir, "store", "0", "features.npy"), 5*8+2, float32(math.NaN()))
		wantFail(t, f.dir, []string{filepath.Join("store", "0", "features.npy") + " changed", "trak finalize --model-id 0"}, "score", "--config", cfg)
		errOut := mustTrakErr(t, f.dir, "finalize", "--config", cfg)
		if !strings.Contains(errOut, "model 0: finalized again") || !strings.Contains(errOut, "model 1: already finalized") {
			t.Errorf("finalize after the damage:\n%s", errOut)
		}
		mustTrak(t, f.dir, "score", "--config", cfg)
	})
	t.Run("features.npy without stamps", func(t *testing.T) {
		f, cfg := scoredStore(t)
		editJSON(t, filepath.Join(f.dir, "store", "0", "meta.json"), func(m map[string]any) {
			delete(m, "features")
			delete(m, "grads")
			delete(m, "out_to_loss")
		})
		setFloat32(t, filepath.Join(f.dir, "store", "0", "features.npy"), 5*8+2, float32(math.NaN()))
		wantFail(t, f.dir, []string{filepath.Join("store", "0", "features.npy") + " row 5, column 2 holds NaN", "trak finalize --model-id 0"}, "score", "--config", cfg)
		errOut := mustTrakErr(t, f.dir, "finalize", "--config", cfg)
		if !strings.Contains(errOut, "model 0: finalized again") || !strings.Contains(errOut, "is damaged") {
			t.Errorf("finalize after the damage:\n%s", errOut)
		}
		mustTrak(t, f.dir, "score", "--config", cfg)
	})
	t.Run("out_to_loss.npy without stamps", func(t *testing.T) {
		f, cfg := scoredStore(t)
		editJSON(t, filepath.Join(f.dir, "store", "1", "meta.json"), func(m map[string]any) { delete(m, "out_to_loss") })
		setFloat32(t, filepath.Join(f.dir, "store", "1", "out_to_loss.npy"), 7, float32(math.Inf(1)))
		wantFail(t, f.dir, []string{filepath.Join("store", "1", "out_to_loss.npy") + " row 7 holds +Inf", "featurize model 1 again"}, "score", "--config", cfg)
	})
	t.Run("out_to_loss.npy", func(t *testing.T) {
		f, cfg := scoredStore(t)
		setFloat32(t, filepath.Join(f.dir, "store", "1", "out_to_loss.npy"), 7, float32(math.Inf(1)))
		wantFail(t, f.dir, []string{filepath.Join("store", "1", "out_to_loss.npy") + " changed", "trak finalize --model-id 1"}, "score", "--config", cfg)
		wantFail(t, f.dir, []string{"out_to_loss.npy row 7 holds +Inf", "featurize model 1 again"}, "finalize", "--config", cfg)
	})
	t.Run("target features", func(t *testing.T) {
		f, cfg := scoredStore(t)
		setFloat32(t, filepath.Join(f.dir, "store", "0", "val_grads.npy"), 1*8+3, float32(math.NaN()))
		wantFail(t, f.dir, []string{filepath.Join("store", "0", "val_grads.npy") + " row 1, column 3 holds NaN", "trak score --exp val"}, "score", "--config", cfg)
		os.Remove(filepath.Join(f.dir, "store", "0", "val_grads.npy"))
		os.Remove(filepath.Join(f.dir, "store", "0", "val_is_featurized.npy"))
		mustTrak(t, f.dir, "score", "--config", cfg)
	})
	t.Run("scores", func(t *testing.T) {
		f, cfg := scoredStore(t)
		setFloat32(t, filepath.Join(f.dir, "store", "scores", "val.npy"), 4*3+1, float32(math.NaN()))
		wantFail(t, f.dir, []string{filepath.Join("scores", "val.npy") + " is not the file score wrote", "trak score --exp val"}, "top", "--config", cfg)
		editJSON(t, filepath.Join(f.dir, "store", "experiments.json"), func(m map[string]any) {
			delete(m["val"].(map[string]any), "scores")
		})
		wantFail(t, f.dir, []string{filepath.Join("scores", "val.npy") + " row 4 (train example 4), column 1 (target 1) holds NaN", "trak score --exp val"}, "top", "--config", cfg)
		mustTrak(t, f.dir, "score", "--config", cfg)
		mustTrak(t, f.dir, "top", "--config", cfg)
	})
}

// mustTrakErr runs trak, fails the test on a non-zero exit, and returns
// stderr.
func mustTrakErr(t *testing.T, dir string, args ...string) string {
	t.Helper()
	_, errOut, code := trak(t, dir, args...)
	if code != 0 {
		t.Fatalf("trak %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return errOut
}

// TestEditedMetadata: a hand edit of a recorded setting in metadata.json is
// refused by every command, naming the file.
func TestEditedMetadata(t *testing.T) {
	f, cfg := scoredStore(t)
	path := filepath.Join(f.dir, "store", "metadata.json")
	raw, _ := os.ReadFile(path)
	edited := regexp.MustCompile(`"seed": \d+`).ReplaceAll(raw, []byte(`"seed": 12345`))
	if string(edited) == string(raw) {
		t.Fatalf("no seed in %s", raw)
	}
	os.WriteFile(path, edited, 0o644)
	want := []string{filepath.Join("store", "metadata.json") + " was edited after the store was made", "restore the original file"}
	wantFail(t, f.dir, want, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--model-id", "0", "--projector-seed", "12345")
	wantFail(t, f.dir, want, "finalize", "--config", cfg)
	wantFail(t, f.dir, want, "score", "--config", cfg)
	wantFail(t, f.dir, want, "top", "--config", cfg)
	os.WriteFile(path, raw, 0o644)
	mustTrak(t, f.dir, "top", "--config", cfg)
}

// TestStaleScores: scores computed before finalize ran with another λ are
// refused by top until score runs again; experiments.json records what the
// scores were made from, with the targets' absolute path.
func TestStaleScores(t *testing.T) {
	f, cfg := scoredStore(t)
	mustTrak(t, f.dir, "top", "--config", cfg)
	raw, _ := os.ReadFile(filepath.Join(f.dir, "store", "experiments.json"))
	var exps map[string]struct {
		Targets string
		Inputs  []struct {
			ModelID        int     `json:"model_id"`
			FinalizeLambda float64 `json:"finalize_lambda"`
			Features       struct{ SHA256 string }
		}
	}
	if err := json.Unmarshal(raw, &exps); err != nil {
		t.Fatal(err)
	}
	val := exps["val"]
	if val.Targets != filepath.Join(f.dir, "targets.csv") {
		t.Errorf("targets recorded as %q, want the absolute path %q", val.Targets, filepath.Join(f.dir, "targets.csv"))
	}
	if len(val.Inputs) != 2 || val.Inputs[1].ModelID != 1 || val.Inputs[1].FinalizeLambda != 0.01 || len(val.Inputs[1].Features.SHA256) != 64 {
		t.Errorf("inputs recorded: %s", raw)
	}

	mustTrak(t, f.dir, "finalize", "--config", cfg, "--lambda", "0.1")
	wantFail(t, f.dir, []string{filepath.Join("scores", "val.npy") + " was computed from model 0 finalized with lambda 0.01, now 0.1: run `trak score --exp val` again"},
		"top", "--config", cfg)
	mustTrak(t, f.dir, "score", "--config", cfg)
	mustTrak(t, f.dir, "top", "--config", cfg)

	// top from another directory finds the targets.
	other := t.TempDir()
	out, errOut, code := trak(t, other, "top", "--save-dir", filepath.Join(f.dir, "store"), "--exp", "val", "-k", "1")
	if code != 0 || strings.Contains(errOut, "note:") || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
		t.Errorf("top from another directory: exit %d\n%s%s", code, out, errOut)
	}

	// Changed targets: their descriptions would no longer match the scores.
	csv, _ := os.ReadFile(filepath.Join(f.dir, "targets.csv"))
	os.WriteFile(filepath.Join(f.dir, "targets.csv"), append(csv, csv[strings.LastIndex(string(csv[:len(csv)-1]), "\n")+1:]...), 0o644)
	wantFail(t, f.dir, []string{"the targets " + filepath.Join(f.dir, "targets.csv") + " changed since scores/val.npy was computed"}, "top", "--config", cfg)
	os.WriteFile(filepath.Join(f.dir, "targets.csv"), csv, 0o644)

	// Features finalized again from the same λ but changed content.
	setFloat32(t, filepath.Join(f.dir, "store", "1", "features.npy"), 3, 0.5)
	wantFail(t, f.dir, []string{"was computed from model 1's features.npy, which changed"}, "top", "--config", cfg)
	mustTrak(t, f.dir, "finalize", "--config", cfg, "--lambda", "0.1")
	mustTrak(t, f.dir, "top", "--config", cfg) // finalize restored the same content

	// Scores from before inputs were recorded are served with a note.
	editJSON(t, filepath.Join(f.dir, "store", "experiments.json"), func(m map[string]any) {
		delete(m["val"].(map[string]any), "inputs")
	})
	if _, errOut, code := trak(t, f.dir, "top", "--config", cfg); code != 0 || !strings.Contains(errOut, "note: scores/val.npy was computed by an older trak") {
		t.Errorf("legacy experiment: exit %d\n%s", code, errOut)
	}
}

// TestTruncatedFeatures: the advice for a truncated features.npy works:
// finalize finalizes it again instead of saying it already did.
func TestTruncatedFeatures(t *testing.T) {
	f, cfg := scoredStore(t)
	path := filepath.Join(f.dir, "store", "0", "features.npy")
	fi, _ := os.Stat(path)
	os.Truncate(path, fi.Size()-100)
	wantFail(t, f.dir, []string{"features.npy", "trak finalize --model-id 0"}, "score", "--config", cfg)
	errOut := mustTrakErr(t, f.dir, "finalize", "--config", cfg)
	if !strings.Contains(errOut, "model 0: finalized again") || strings.Contains(errOut, "model 0: already finalized") {
		t.Errorf("finalize of a truncated features.npy:\n%s", errOut)
	}
	mustTrak(t, f.dir, "score", "--config", cfg)
	mustTrak(t, f.dir, "top", "--config", cfg)
}

// TestScoreBeforeFinalize: --skip-unfinished is suggested only when it can
// help, that is when some model is finalized.
func TestScoreBeforeFinalize(t *testing.T) {
	f := newFixture(t, 30, 2, 4, 3, 2)
	cfg := f.writeConfig(t, "projector:\n  dim: 8\nlambda: 0.01\n")
	featurizeAll(t, f, cfg)
	errOut := wantFail(t, f.dir, []string{"no finalized checkpoints", "trak finalize"}, "score", "--config", cfg)
	if strings.Contains(errOut, "--skip-unfinished") {
		t.Errorf("suggests --skip-unfinished with no model finalized:\n%s", errOut)
	}
	mustTrak(t, f.dir, "finalize", "--config", cfg, "--model-id", "0")
	wantFail(t, f.dir, []string{"model ids [1] are not finalized", "--skip-unfinished"}, "score", "--config", cfg)
}

// TestStoreLeavesNoStrayFiles: no lock file is left after a run, and
// temporary files that killed runs left behind are removed when the store
// is next opened, except one a live process holds.
func TestStoreLeavesNoStrayFiles(t *testing.T) {
	f, cfg := scoredStore(t)
	store := filepath.Join(f.dir, "store")
	filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".lock") {
			t.Errorf("lock file %s left after the run", p)
		}
		return nil
	})
	orphans := []string{
		filepath.Join(store, ".experiments.json.tmp-123"),
		filepath.Join(store, "0", ".grads.npy.tmp-4567"),
		filepath.Join(store, "scores", "..val.npy.partial.tmp-89"),
	}
	for _, p := range orphans {
		os.WriteFile(p, []byte("left by a killed run"), 0o644)
	}
	live := filepath.Join(store, "1", ".meta.json.tmp-42")
	os.WriteFile(live, nil, 0o644)
	lf, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	mustTrak(t, f.dir, "top", "--config", cfg)
	for _, p := range orphans {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived", p)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the temporary file a live process holds was removed: %v", err)
	}
}
