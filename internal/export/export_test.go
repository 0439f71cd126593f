package export

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

const (
	testN = 5 // train rows
	testK = 3 // feature dimension
	testT = 2 // targets of experiment "val"
)

// testStore builds a store through its own API: models 0..len(finalized)-1,
// featurized, row 2 of each skipped as a bad example, finalized where
// finalized says (features.npy written and stamped as finalize does), and
// experiment "val" scored from the finalized models.
func testStore(t *testing.T, dtype string, finalized ...bool) *store.Store {
	t.Helper()
	st, err := store.Create(filepath.Join(t.TempDir(), "store"), store.Metadata{
		Task: "logreg", ModelConfigHash: "h", NumParams: 10, TrainSize: testN, TrainFingerprint: "f",
		Projector: "rademacher", K: testK, Seed: 1, FeaturesDType: dtype,
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	var scored []int
	for id, fin := range finalized {
		if _, err := st.AddModel(id, "ckpt", "sha"); err != nil {
			t.Fatal(err)
		}
		rows, err := st.TrainRows(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := rows.Put([]int{0, 1, 3, 4}, vals(4*testK), vals(4)); err != nil {
			t.Fatal(err)
		}
		if err := rows.Skip([]int{2}, []string{"unreadable"}); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		meta, err := st.ModelMeta(id)
		if err != nil {
			t.Fatal(err)
		}
		meta.Featurized = true
		if fin {
			writeF32(t, st.FeaturesPath(id), []int{testN, testK}, vals(testN*testK))
			meta.Finalized, meta.FinalizeForm, meta.FinalizeLambda = true, "primal", 0.5
			for _, s := range []struct {
				path string
				dst  **store.Stamp
			}{{st.FeaturesPath(id), &meta.Features}, {st.GradsPath(id), &meta.Grads}, {st.OutToLossPath(id), &meta.OutToLoss}} {
				stamp, err := store.StampFile(s.path)
				if err != nil {
					t.Fatal(err)
				}
				*s.dst = &stamp
			}
			tr, err := st.TargetRows(id, "val", testT)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Put([]int{0, 1}, vals(testT*testK), nil); err != nil {
				t.Fatal(err)
			}
			tr.Close()
			scored = append(scored, id)
		}
		if err := st.SetModelMeta(meta); err != nil {
			t.Fatal(err)
		}
	}
	if len(scored) > 0 {
		writeF32(t, st.ScoresPath("val"), []int{testN, testT}, vals(testN*testT))
		if err := st.SetExperiment("val", store.Experiment{Targets: "t.csv", NumTargets: testT, ModelIDs: scored, Scored: true}); err != nil {
			t.Fatal(err)
		}
	}
	// An experiment that never finished scoring is left out.
	if err := st.SetExperiment("half", store.Experiment{Targets: "h.csv", NumTargets: 1, ModelIDs: scored}); err != nil {
		t.Fatal(err)
	}
	return st
}

func writeF32(t *testing.T, path string, shape []int, v []float32) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	if err := npy.WriteFile(path, npy.Header{DType: npy.Float32, Shape: shape}, buf); err != nil {
		t.Fatal(err)
	}
}

// floats reads an .npy file of float32 or float16 values as float64.
func floats(t *testing.T, path string) (npy.Header, []float64) {
	t.Helper()
	h, data, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	switch h.DType {
	case npy.Float32:
		for i := 0; i < len(data); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(data[i:]))))
		}
	case npy.Float16:
		bits := make([]uint16, len(data)/2)
		for i := range bits {
			bits[i] = binary.LittleEndian.Uint16(data[2*i:])
		}
		f := make([]float32, len(bits))
		npy.Float16ToFloat32(f, bits)
		for _, x := range f {
			out = append(out, float64(x))
		}
	default:
		t.Fatalf("%s holds %s", path, h.DType)
	}
	return h, out
}

// asFloat16 rounds v to float16 as the export does.
func asFloat16(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		b := []uint16{0}
		npy.Float16Bits(b, []float32{float32(x)})
		f := []float32{0}
		npy.Float16ToFloat32(f, b)
		out[i] = float64(f[0])
	}
	return out
}

// checkArray compares an exported array with the store's.
func checkArray(t *testing.T, exported, stored string, dtype npy.DType) {
	t.Helper()
	gh, got := floats(t, exported)
	sh, want := floats(t, stored)
	if gh.DType != dtype || !slices.Equal(gh.Shape, sh.Shape) {
		t.Errorf("%s: %s %v, want %s %v", exported, gh.DType, gh.Shape, dtype, sh.Shape)
		return
	}
	if dtype == npy.Float16 {
		want = asFloat16(want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, the store's %s %v", exported, got, stored, want)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

func TestExport(t *testing.T) {
	for _, tt := range []struct {
		name       string
		storeDType string
		dtype      npy.DType // asked for; 0 = the store's
		want       npy.DType
		copy       bool
	}{
		{"float32", "float32", 0, npy.Float32, false},
		{"float32 copies", "float32", 0, npy.Float32, true},
		{"float32 as float16", "float32", npy.Float16, npy.Float16, false},
		{"float16", "float16", 0, npy.Float16, false},
		{"float16 as float32", "float16", npy.Float32, npy.Float32, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := testStore(t, tt.storeDType, true, false, true)
			dir := filepath.Join(t.TempDir(), "out")
			sum, err := Export(context.Background(), st, Options{Dir: dir, DType: tt.dtype, Copy: tt.copy, ToolVersion: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if sum.DType != tt.want {
				t.Errorf("dtype %s, want %s", sum.DType, tt.want)
			}
			var meta map[string]any
			readJSON(t, filepath.Join(dir, "metadata.json"), &meta)
			if meta["JL dimension"] != float64(testK) || meta["JL matrix type"] != "rademacher" || meta["train set size"] != float64(testN) || len(meta) != 3 {
				t.Errorf("metadata.json: %v", meta)
			}
			for id, fin := range []bool{true, false, true} {
				md := filepath.Join(dir, string(rune('0'+id)))
				checkArray(t, filepath.Join(md, "grads.mmap"), st.GradsPath(id), tt.want)
				checkArray(t, filepath.Join(md, "out_to_loss.mmap"), st.OutToLossPath(id), tt.want)
				// Model 1, not finalized, gets copies: the library computes on them.
				linkable := !tt.copy && dtypeName(tt.want) == tt.storeDType && fin
				if got := sameFile(t, filepath.Join(md, "grads.mmap"), st.GradsPath(id)); got != linkable {
					t.Errorf("model %d grads.mmap hard-linked: %v, want %v", id, got, linkable)
				}
				if fin {
					checkArray(t, filepath.Join(md, "features.mmap"), st.FeaturesPath(id), tt.want)
				} else {
					h, v := floats(t, filepath.Join(md, "features.mmap"))
					if h.DType != tt.want || !slices.Equal(h.Shape, []int{testN, testK}) || slices.ContainsFunc(v, func(x float64) bool { return x != 0 }) {
						t.Errorf("model %d (not finalized) features.mmap: %s %v %v, want zeros", id, h.DType, h.Shape, v)
					}
				}
				h, data, err := npy.ReadFile(filepath.Join(md, "_is_featurized.mmap"))
				if err != nil {
					t.Fatal(err)
				}
				if h.DType != npy.Int32 || !slices.Equal(h.Shape, []int{testN}) {
					t.Errorf("flags %s %v", h.DType, h.Shape)
				}
				for i := range testN {
					if v := int32(binary.LittleEndian.Uint32(data[4*i:])); v != 1 {
						t.Errorf("model %d row %d flag %d, want 1 (row 2 was skipped: zero features, finished)", id, i, v)
					}
				}
				var status map[string]map[string]int
				readJSON(t, filepath.Join(dir, "id_"+string(rune('0'+id))+".json"), &status)
				wantFin := 0
				if fin {
					wantFin = 1
				}
				if s := status[string(rune('0'+id))]; len(status) != 1 || s["is_featurized"] != 1 || s["is_finalized"] != wantFin {
					t.Errorf("id_%d.json: %v", id, status)
				}
				if sum.Models[id].SkippedRows != 1 {
					t.Errorf("model %d: %d skipped rows, want 1", id, sum.Models[id].SkippedRows)
				}
			}
			for _, id := range []int{0, 2} {
				checkArray(t, filepath.Join(dir, string(rune('0'+id)), "val_grads.mmap"), st.TargetGradsPath(id, "val"), tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "1", "val_grads.mmap")); err == nil {
				t.Error("model 1 did not score val but has val_grads.mmap")
			}
			checkArray(t, filepath.Join(dir, "scores", "val.mmap"), st.ScoresPath("val"), tt.want)
			if sameFile(t, filepath.Join(dir, "scores", "val.mmap"), st.ScoresPath("val")) {
				t.Error("scores are hard-linked: the library's finalize_scores would rewrite the store's")
			}
			var exps map[string]map[string]any
			readJSON(t, filepath.Join(dir, "experiments.json"), &exps)
			if e := exps["val"]; len(exps) != 1 || e["num_targets"] != float64(testT) || e["scores_finalized"] != float64(1) || e["scores_path"] != filepath.Join(dir, "scores", "val.mmap") {
				t.Errorf("experiments.json: %v", exps)
			}
			if len(sum.Left) != 1 || sum.Left[0].Name != "half" || !strings.Contains(sum.Left[0].Reason, "trak score --exp half") {
				t.Errorf("left out: %+v", sum.Left)
			}
			if len(sum.Experiments) != 1 || !slices.Equal(sum.Experiments[0].ModelIDs, []int{0, 2}) {
				t.Errorf("experiments: %+v", sum.Experiments)
			}
			mk, ok := readMarker(dir)
			if !ok || !mk.Complete || mk.Store != st.Dir || mk.DType != dtypeName(tt.want) || len(mk.Files) != len(sum.Files) {
				t.Errorf("marker: %+v", mk)
			}
			assertNoTemps(t, dir)
		})
	}
}

// assertNoTemps fails if a temporary file is left anywhere under dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
}

func TestExportFloat16Range(t *testing.T) {
	st := testStore(t, "float32", true)
	// A score beyond float16's range cannot be exported in float16.
	// (testStore records no stamps for the scores, so rewriting them is
	// not noticed as a change.)
	writeF32(t, st.ScoresPath("val"), []int{testN, testT}, []float32{0, 1, 2, 3, 1e5, 5, 6, 7, 8, 9})
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Export(context.Background(), st, Options{Dir: dir, DType: npy.Float16})
	var re *RangeError
	if !errors.As(err, &re) || re.Row != 2 || re.Col != 0 || !strings.Contains(err.Error(), "--dtype float32") {
		t.Fatalf("err = %v, want a RangeError at row 2, column 0", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scores", "val.mmap")); err == nil {
		t.Error("a half-converted score file was left under its final name")
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata.json")); err == nil {
		t.Error("metadata.json written by a failed export")
	}
	assertNoTemps(t, dir)
	// The unfinished export is replaced by the next run without --force.
	if _, err := Export(context.Background(), st, Options{Dir: dir, DType: npy.Float32}); err != nil {
		t.Errorf("rerun after a failed export: %v", err)
	}
}

func TestExportUnderflow(t *testing.T) {
	st := testStore(t, "float32", true)
	writeF32(t, st.ScoresPath("val"), []int{testN, testT}, []float32{1e-9, 1, 2, 3, 4, 5, 6, 7, 8, 0})
	sum, err := Export(context.Background(), st, Options{Dir: filepath.Join(t.TempDir(), "out"), DType: npy.Float16})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Underflow < 1 {
		t.Errorf("underflow count %d, want at least the score 1e-9", sum.Underflow)
	}
}

func TestExportRefusals(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, "float32", true, true)

	// A model with rows not featurized: the library would fill them with
	// its own projection.
	pending := testStore(t, "float32", true)
	if _, err := pending.AddModel(1, "ckpt", "sha"); err != nil {
		t.Fatal(err)
	}
	rows, err := pending.TrainRows(1)
	if err != nil {
		t.Fatal(err)
	}
	rows.Put([]int{0}, make([]float32, testK), []float32{1})
	rows.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Export(ctx, pending, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "4 of 5 train rows are not featurized") || !strings.Contains(err.Error(), "--model-id") {
		t.Errorf("pending rows: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused export created its directory")
	}
	if _, err := Export(ctx, pending, Options{Dir: dir, ModelIDs: []int{0}}); err != nil {
		t.Errorf("exporting the finished model alone: %v", err)
	}

	if _, err := Export(ctx, st, Options{Dir: filepath.Join(t.TempDir(), "x"), ModelIDs: []int{7}}); err == nil || !strings.Contains(err.Error(), "model id 7 is not in store") {
		t.Errorf("unknown model id: %v", err)
	}
	for _, d := range []string{st.Dir, filepath.Join(st.Dir, "0"), filepath.Dir(st.Dir)} {
		if _, err := Export(ctx, st, Options{Dir: d, Force: true}); err == nil || !strings.Contains(err.Error(), "outside the store") {
			t.Errorf("export to %s: %v", d, err)
		}
	}
	other := testStore(t, "float32", true)
	if _, err := Export(ctx, st, Options{Dir: other.Dir, Force: true}); err == nil || !strings.Contains(err.Error(), "is a trak store") {
		t.Errorf("export over another store: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Export(ctx, st, Options{Dir: file}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("export to a file: %v", err)
	}

	// A finalized model whose grads changed since finalize.
	changed := testStore(t, "float32", true)
	writeF32(t, changed.GradsPath(0), []int{testN, testK}, make([]float32, testN*testK))
	if _, err := Export(ctx, changed, Options{Dir: filepath.Join(t.TempDir(), "y")}); err == nil || !strings.Contains(err.Error(), "trak finalize --model-id 0") {
		t.Errorf("grads changed since finalize: %v", err)
	}
}

func TestExportNonEmptyDir(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, "float32", true, true)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Export(ctx, st, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("non-empty dir: %v", err)
	}
	if _, err := Export(ctx, st, Options{Dir: dir, Force: true}); err != nil {
		t.Fatal(err)
	}
	// A second export of model 0 alone replaces the first: model 1's files
	// must go, or the library would list it (it reads every id_*.json).
	sum, err := Export(ctx, st, Options{Dir: dir, Force: true, ModelIDs: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"id_1.json", "1"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s of the earlier export is still there", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("--force removed a file that is not the library's: %v", err)
	}
	// val averages models 0 and 1: without model 1 its scores are not
	// those of the exported models.
	if len(sum.Experiments) != 0 || len(sum.Left) != 2 || !strings.Contains(sum.Left[1].Reason, "[1] are not exported") {
		t.Errorf("experiments %+v, left %+v", sum.Experiments, sum.Left)
	}
	var exps map[string]any
	readJSON(t, filepath.Join(dir, "experiments.json"), &exps)
	if len(exps) != 0 {
		t.Errorf("experiments.json: %v", exps)
	}
	// A complete export is not replaced without --force.
	if _, err := Export(ctx, st, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over a complete export without --force: %v", err)
	}
}

func TestExportCancelled(t *testing.T) {
	st := testStore(t, "float32", true)
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Export(ctx, st, Options{Dir: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata.json")); err == nil {
		t.Error("metadata.json written by a cancelled export")
	}
	if mk, ok := readMarker(dir); !ok || mk.Complete {
		t.Errorf("marker of the cancelled export: %+v, %v", mk, ok)
	}
	// Running again finishes it, without --force.
	if _, err := Export(context.Background(), st, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if mk, ok := readMarker(dir); !ok || !mk.Complete {
		t.Errorf("marker after the rerun: %+v", mk)
	}
}

func TestParseDType(t *testing.T) {
	if d, err := ParseDType("float16"); err != nil || d != npy.Float16 {
		t.Errorf("float16: %v %v", d, err)
	}
	if d, err := ParseDType("float32"); err != nil || d != npy.Float32 {
		t.Errorf("float32: %v %v", d, err)
	}
	if _, err := ParseDType("bfloat16"); err == nil {
		t.Error("bfloat16 accepted")
	}
}
