package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testMeta() Metadata {
	return Metadata{Task: "logreg", ModelConfigHash: "h", NumParams: 10, TrainSize: 5, TrainFingerprint: "f", Projector: "rademacher", K: 3, Seed: 1, FeaturesDType: "float32"}
}

func TestCreateOpenCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Create(dir, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.FormatVersion != FormatVersion {
		t.Errorf("format version %d", s.Meta.FormatVersion)
	}
	if _, err := Create(dir, testMeta()); err != nil {
		t.Fatalf("reopen with the same metadata: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Metadata)
		want   []string
	}{
		{"k", func(m *Metadata) { m.K = 4 }, []string{"k: store has 3, this run has 4", "projector.dim"}},
		{"projector", func(m *Metadata) { m.Projector = "normal" }, []string{"projector: store has rademacher", "projector.type"}},
		{"seed", func(m *Metadata) { m.Seed = 2 }, []string{"seed", "projector.seed"}},
		{"s", func(m *Metadata) { m.Projector, m.S = "sjlt", 4 }, []string{"s: store has 0, this run has 4", "projector.s"}},
		{"train", func(m *Metadata) { m.TrainSize, m.TrainFingerprint = 6, "g" }, []string{"train_size", "train_fingerprint", "train_data"}},
		{"model", func(m *Metadata) { m.ModelConfigHash = "other" }, []string{"model_config_hash"}},
		{"dtype", func(m *Metadata) { m.FeaturesDType = "float16" }, []string{"features_dtype"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMeta()
			tt.change(&m)
			_, err := Create(dir, m)
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a MismatchError", err)
			}
			for _, w := range append(tt.want, "new save_dir") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
	m := testMeta()
	m.ToolVersion = "other"
	if _, err := Create(dir, m); err != nil {
		t.Errorf("a different tool version must not matter: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a trak store") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte("{"), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt metadata: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"format_version": 99}`), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Errorf("future version: %v", err)
	}
}

// TestConcurrentCreate: processes racing to create one store all end up
// with the same, complete metadata.
func TestConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Create(dir, testMeta())
			if err == nil {
				_, err = s.AddModel(0, "ckpt", "sha")
			}
			if err == nil {
				var r *Rows
				if r, err = s.TrainRows(0); err == nil {
					err = r.Close()
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
}

func TestAddModel(t *testing.T) {
	s, err := Create(t.TempDir(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddModel(2, "/a.npy", "aaa"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddModel(2, "/a.npy", "aaa"); err != nil {
		t.Errorf("same checkpoint again: %v", err)
	}
	if _, err := s.AddModel(2, "/b.npy", "bbb"); err == nil || !strings.Contains(err.Error(), "another --model-id") {
		t.Errorf("other checkpoint under the same id: %v", err)
	}
	os.Mkdir(filepath.Join(s.Dir, "scores"), 0o755)
	os.Mkdir(filepath.Join(s.Dir, "07"), 0o755)
	ids, err := s.ModelIDs()
	if err != nil || len(ids) != 1 || ids[0] != 2 {
		t.Errorf("ModelIDs = %v, %v; want [2]", ids, err)
	}
	if _, err := s.ModelMeta(5); err == nil || !strings.Contains(err.Error(), "trak featurize --model-id 5") {
		t.Errorf("missing model: %v", err)
	}
}

func TestRows(t *testing.T) {
	for _, dtype := range []string{"float32", "float16"} {
		t.Run(dtype, func(t *testing.T) {
			m := testMeta()
			m.FeaturesDType = dtype
			s, err := Create(t.TempDir(), m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddModel(0, "ckpt", "sha"); err != nil {
				t.Fatal(err)
			}
			r, err := s.TrainRows(0)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Pending(0, 5); len(got) != 5 {
				t.Fatalf("pending %v", got)
			}
			// 0.5, 1.5, … are exact in float16 too.
			if err := r.Put([]int{1, 3}, []float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, []float32{0.25, 0.75}); err != nil {
				t.Fatal(err)
			}
			r.Close()
			r, err = s.TrainRows(0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.Pending(0, 5); len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 4 {
				t.Errorf("pending after Put = %v, want [0 2 4]", got)
			}
			row := make([]float64, 3)
			r.Row(3, row)
			if row[0] != 3.5 || row[2] != 5.5 {
				t.Errorf("row 3 = %v", row)
			}
			part := make([]float64, 2)
			r.RowCols(3, 1, 3, part)
			if part[0] != 4.5 || part[1] != 5.5 {
				t.Errorf("row 3, columns 1 and 2 = %v, want [4.5 5.5]", part)
			}
			if q := r.Q(); q[1] != 0.25 || q[3] != 0.75 || q[0] != 0 {
				t.Errorf("Q = %v", q)
			}
		})
	}
}

func TestRowsShapeMismatch(t *testing.T) {
	s, err := Create(t.TempDir(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddModel(0, "ckpt", "sha"); err != nil {
		t.Fatal(err)
	}
	r, err := s.TargetRows(0, "val", 4)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := s.TargetRows(0, "val", 5); err == nil || !strings.Contains(err.Error(), "val_grads.npy") {
		t.Errorf("reopening with another shape: %v", err)
	}
}

func TestExperimentsConcurrent(t *testing.T) {
	s, err := Create(t.TempDir(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.SetExperiment(string(rune('a'+i)), Experiment{NumTargets: i}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	exps, err := s.Experiments()
	if err != nil || len(exps) != 20 {
		t.Errorf("got %d experiments (%v), want 20: an update was lost", len(exps), err)
	}
}

// TestCheckImageTransform: a different image transform is a mismatch naming
// image_mode; a store made before the field existed accepts the transform
// trak used then (EXIF orientation applied, RGB first, open_clip's
// defaults) and nothing else.
func TestCheckImageTransform(t *testing.T) {
	const rgb = "rgb shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=true"
	const native = "native shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=false"
	const rgbStored = "rgb shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=false"
	s := &Store{Dir: "x", Meta: Metadata{Task: "clip", ImageTransform: native}}
	if err := s.Check(Metadata{Task: "clip", ImageTransform: native}); err != nil {
		t.Fatal(err)
	}
	err := s.Check(Metadata{Task: "clip", ImageTransform: rgb})
	if err == nil || !strings.Contains(err.Error(), "image_transform") || !strings.Contains(err.Error(), "image_mode") {
		t.Errorf("got %v", err)
	}
	legacy := &Store{Dir: "x", Meta: Metadata{Task: "clip"}}
	if err := legacy.Check(Metadata{Task: "clip", ImageTransform: rgb}); err != nil {
		t.Errorf("legacy store with the rgb default: %v", err)
	}
	for _, other := range []string{native, rgbStored} {
		if err := legacy.Check(Metadata{Task: "clip", ImageTransform: other}); err == nil || !strings.Contains(err.Error(), "(none)") {
			t.Errorf("legacy store with %s: %v", other, err)
		}
	}
	if err := s.Check(Metadata{Task: "clip", ImageTransform: strings.Replace(native, "=false", "=true", 1)}); err == nil || !strings.Contains(err.Error(), "exif_transpose") {
		t.Errorf("exif_transpose changed: %v", err)
	}
}

// The fingerprint checks of eval lds's subset trainers: the same
// fingerprint passes; another names the data and the fix.
func TestCheckFingerprints(t *testing.T) {
	m := Metadata{TrainData: "train.csv", TrainFingerprint: "fp1"}
	if err := m.CheckTrainFingerprint("fp1"); err != nil {
		t.Errorf("same train fingerprint: %v", err)
	}
	if err := m.CheckTrainFingerprint("fp2"); err == nil || !strings.Contains(err.Error(), "train.csv changed since it was featurized") {
		t.Errorf("other train fingerprint: %v", err)
	}
	e := Experiment{Targets: "val.csv", TargetsFingerprint: "fp1"}
	if err := e.CheckTargetsFingerprint("fp1"); err != nil {
		t.Errorf("same targets fingerprint: %v", err)
	}
	if err := e.CheckTargetsFingerprint("fp2"); err == nil || !strings.Contains(err.Error(), "the targets val.csv changed since they were scored") {
		t.Errorf("other targets fingerprint: %v", err)
	}
}
