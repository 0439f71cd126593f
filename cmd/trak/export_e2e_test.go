package main

// End-to-end tests of `trak export trak-py`: a CLIP store made by the real
// binary is exported, and every file written is read back with trak's own
// .npy reader and compared with the store.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/npy"
)

// exportedFloats reads an exported float array (float32 or float16) as
// float64, with its header.
func exportedFloats(t *testing.T, path string) (npy.Header, []float64) {
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
		t.Fatalf("%s holds %s, not a float array", path, h.DType)
	}
	return h, out
}

// roundFloat16 is what a float16 export makes of float32 values.
func roundFloat16(v []float64) []float64 {
	in := make([]float32, len(v))
	for i, x := range v {
		in[i] = float32(x)
	}
	bits := make([]uint16, len(v))
	npy.Float16Bits(bits, in)
	npy.Float16ToFloat32(in, bits)
	out := make([]float64, len(v))
	for i, x := range in {
		out[i] = float64(x)
	}
	return out
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sameInode(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return os.SameFile(fa, fb)
}

// TestExportTrakPy makes a CLIP store with the binary (models 0 and 1
// finalized and scored, a bad image skipped, model 2 featurized only),
// exports it in float32 and float16, and checks every exported file.
func TestExportTrakPy(t *testing.T) {
	const n, k = 12, 16
	dir := clipFixture(t, n, 3)
	os.WriteFile(filepath.Join(dir, "img004.png"), []byte("corrupt"), 0o644)
	cfg := writeFile(t, dir, "run.yaml", fmt.Sprintf("save_dir: store\ntask: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nmodel_config: model.json\nprojector:\n  dim: %d\nlambda: 0.01\nsim_batch_size: 5\nbatch_size: 4\non_bad_example: skip\n", k))
	for m := range 2 {
		mustTrak(t, dir, "featurize", "--config", cfg, "--checkpoint", fmt.Sprintf("ckpt%d.safetensors", m), "--model-id", fmt.Sprint(m))
	}
	mustTrak(t, dir, "finalize", "--config", cfg)
	mustTrak(t, dir, "score", "--config", cfg)
	mustTrak(t, dir, "featurize", "--config", cfg, "--checkpoint", "ckpt2.safetensors", "--model-id", "2")
	storeDir := filepath.Join(dir, "store")
	store := func(parts ...string) string { return filepath.Join(append([]string{storeDir}, parts...)...) }

	_, errOut, code := trak(t, dir, "export", "trak-py", "out", "--save-dir", "store")
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"model 0: finalized, 1 skipped", "model 2: featurized, not finalized", "experiment self: 12 targets, scores from models 0, 1", "use_half_precision=False", `projector of type "rademacher"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("export's message lacks %q:\n%s", want, errOut)
		}
	}
	out := filepath.Join(dir, "out")
	exp := func(parts ...string) string { return filepath.Join(append([]string{out}, parts...)...) }

	var meta map[string]any
	readJSONFile(t, exp("metadata.json"), &meta)
	if len(meta) != 3 || meta["JL dimension"] != float64(k) || meta["JL matrix type"] != "rademacher" || meta["train set size"] != float64(n) {
		t.Errorf("metadata.json: %v", meta)
	}
	var exps map[string]map[string]any
	readJSONFile(t, exp("experiments.json"), &exps)
	if e := exps["self"]; len(exps) != 1 || e["num_targets"] != float64(n) || e["scores_finalized"] != float64(1) || e["scores_path"] != exp("scores", "self.mmap") {
		t.Errorf("experiments.json: %v", exps)
	}

	// checkFloat compares an exported float array with the store's.
	checkFloat := func(t *testing.T, exported, stored string, dtype npy.DType, shape []int) {
		t.Helper()
		eh, got := exportedFloats(t, exported)
		_, want := exportedFloats(t, stored)
		if eh.DType != dtype || !slices.Equal(eh.Shape, shape) {
			t.Errorf("%s: %s %v, want %s %v", exported, eh.DType, eh.Shape, dtype, shape)
			return
		}
		if dtype == npy.Float16 {
			want = roundFloat16(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s differs from %s", exported, stored)
		}
	}
	checkModels := func(t *testing.T, out string, dtype npy.DType) {
		exp := func(parts ...string) string { return filepath.Join(append([]string{out}, parts...)...) }
		for m, finalized := range []bool{true, true, false} {
			id := fmt.Sprint(m)
			checkFloat(t, exp(id, "grads.mmap"), store(id, "grads.npy"), dtype, []int{n, k})
			checkFloat(t, exp(id, "out_to_loss.mmap"), store(id, "out_to_loss.npy"), dtype, []int{n, 1})
			if finalized {
				checkFloat(t, exp(id, "features.mmap"), store(id, "features.npy"), dtype, []int{n, k})
			} else {
				h, v := exportedFloats(t, exp(id, "features.mmap"))
				if h.DType != dtype || !slices.Equal(h.Shape, []int{n, k}) || slices.ContainsFunc(v, func(x float64) bool { return x != 0 }) {
					t.Errorf("model %d features.mmap: %s %v, want zeros for finalize_features to fill", m, h.DType, h.Shape)
				}
			}
			h, data, err := npy.ReadFile(exp(id, "_is_featurized.mmap"))
			if err != nil {
				t.Fatal(err)
			}
			if h.DType != npy.Int32 || !slices.Equal(h.Shape, []int{n}) {
				t.Errorf("model %d _is_featurized.mmap: %s %v, want int32 [%d]", m, h.DType, h.Shape, n)
			}
			for i := range n {
				if v := int32(binary.LittleEndian.Uint32(data[4*i:])); v != 1 {
					t.Errorf("model %d row %d: flag %d, want 1 (row 4, skipped, counts as featurized)", m, i, v)
				}
			}
			var status map[string]map[string]int
			readJSONFile(t, exp("id_"+id+".json"), &status)
			fin := 0
			if finalized {
				fin = 1
			}
			if s := status[id]; len(status) != 1 || s["is_featurized"] != 1 || s["is_finalized"] != fin {
				t.Errorf("id_%s.json: %v", id, status)
			}
		}
		for _, id := range []string{"0", "1"} {
			checkFloat(t, exp(id, "self_grads.mmap"), store(id, "self_grads.npy"), dtype, []int{n, k})
		}
		if _, err := os.Stat(exp("2", "self_grads.mmap")); err == nil {
			t.Error("model 2, which did not score self, has self_grads.mmap")
		}
		checkFloat(t, exp("scores", "self.mmap"), store("scores", "self.npy"), dtype, []int{n, n})
	}
	checkModels(t, out, npy.Float32)

	// Same bytes: the finalized models' arrays are hard links; the scores
	// (finalize_scores rewrites them) and model 2's train arrays (which
	// finalize_features computes on) are copies.
	for _, c := range []struct {
		exported, stored string
		linked           bool
	}{
		{exp("0", "grads.mmap"), store("0", "grads.npy"), true},
		{exp("1", "features.mmap"), store("1", "features.npy"), true},
		{exp("0", "self_grads.mmap"), store("0", "self_grads.npy"), true},
		{exp("2", "grads.mmap"), store("2", "grads.npy"), false},
		{exp("scores", "self.mmap"), store("scores", "self.npy"), false},
	} {
		if got := sameInode(t, c.exported, c.stored); got != c.linked {
			t.Errorf("%s hard-linked to the store: %v, want %v", c.exported, got, c.linked)
		}
	}

	// The exported arrays give the exported scores by the library's
	// finalize_scores formula: mean_m features_m · target_grads_mᵀ times
	// mean_m out_to_loss_m, over the experiment's models.
	var mk struct {
		Complete    bool   `json:"complete"`
		DType       string `json:"dtype"`
		Experiments []struct {
			Name     string `json:"name"`
			ModelIDs []int  `json:"model_ids"`
		} `json:"experiments"`
	}
	readJSONFile(t, exp("trak_export.json"), &mk)
	if !mk.Complete || mk.DType != "float32" || len(mk.Experiments) != 1 || !slices.Equal(mk.Experiments[0].ModelIDs, []int{0, 1}) {
		t.Errorf("trak_export.json: %+v", mk)
	}
	want := make([]float64, n*n)
	q := make([]float64, n)
	for _, m := range mk.Experiments[0].ModelIDs {
		_, f := exportedFloats(t, exp(fmt.Sprint(m), "features.mmap"))
		_, g := exportedFloats(t, exp(fmt.Sprint(m), "self_grads.mmap"))
		_, o := exportedFloats(t, exp(fmt.Sprint(m), "out_to_loss.mmap"))
		for i := range n {
			q[i] += o[i] / 2
			for j := range n {
				s := 0.0
				for c := range k {
					s += f[i*k+c] * g[j*k+c]
				}
				want[i*n+j] += s / 2
			}
		}
	}
	_, got := exportedFloats(t, exp("scores", "self.mmap"))
	worst, scale := 0.0, 0.0
	for i := range n {
		for j := range n {
			w := want[i*n+j] * q[i]
			worst = math.Max(worst, math.Abs(got[i*n+j]-w))
			scale = math.Max(scale, math.Abs(w))
		}
	}
	if worst > 1e-5*scale {
		t.Errorf("exported scores differ from the formula on the exported arrays by %.3g (largest %.3g)", worst, scale)
	}

	// float16, for use_half_precision=True: every float array converted.
	_, errOut, code = trak(t, dir, "export", "trak-py", "out16", "--save-dir", "store", "--dtype", "float16")
	if code != 0 || !strings.Contains(errOut, "use_half_precision=True") {
		t.Fatalf("float16 export: exit %d\n%s", code, errOut)
	}
	checkModels(t, filepath.Join(dir, "out16"), npy.Float16)

	// A non-empty directory needs --force; --force replaces the export.
	_, errOut, code = trak(t, dir, "export", "trak-py", "out", "--save-dir", "store", "--model-id", "0")
	if code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("export into a non-empty directory: exit %d\n%s", code, errOut)
	}
	_, errOut, code = trak(t, dir, "export", "trak-py", "out", "--save-dir", "store", "--model-id", "0", "--force", "--copy")
	if code != 0 || !strings.Contains(errOut, "experiment self left out") || !strings.Contains(errOut, "0 hard links") {
		t.Errorf("export --force --model-id 0 --copy: exit %d\n%s", code, errOut)
	}
	for _, gone := range []string{"id_1.json", "1", "2", filepath.Join("scores", "self.mmap")} {
		if _, err := os.Stat(exp(gone)); err == nil {
			t.Errorf("%s of the earlier export is still there", gone)
		}
	}

	// The store's own files are refused as a destination, and model 2 has
	// nothing to score with but exports.
	if _, errOut, code := trak(t, dir, "export", "trak-py", "store", "--save-dir", "store", "--force"); code != 1 || !strings.Contains(errOut, "outside the store") {
		t.Errorf("export into the store: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := trak(t, dir, "export", "trak-py", "m2", "--save-dir", "store", "--model-id", "2"); code != 0 || !strings.Contains(errOut, "model 2: featurized, not finalized") {
		t.Errorf("export of model 2: exit %d\n%s", code, errOut)
	}
	// The store is unchanged by all this: top still reads its scores.
	mustTrak(t, dir, "top", "--config", cfg, "-k", "1")
}

// TestExportTrakPyUsage checks the command line of `trak export trak-py`.
func TestExportTrakPyUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    ExportTrakPyOptions
	}{
		{name: "defaults", args: []string{"out", "--save-dir", "s"}, want: ExportTrakPyOptions{Dir: "out", DType: "auto"}},
		{name: "all flags", args: []string{"out", "--save-dir", "s", "--model-id", "0", "--model-id", "2", "--dtype", "float16", "--force", "--copy"},
			want: ExportTrakPyOptions{Dir: "out", DType: "float16", ModelIDs: []int{0, 2}, Force: true, Copy: true}},
		{name: "no dir", args: []string{"--save-dir", "s"}, wantErr: "accepts 1 arg"},
		{name: "bad dtype", args: []string{"out", "--save-dir", "s", "--dtype", "bfloat16"}, wantErr: "auto, float32 or float16"},
		{name: "no store", args: []string{"out"}, wantErr: "save_dir is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := testIO()
			var got *ExportTrakPyOptions
			cmd := newCmdExport(io, func(_ context.Context, o *ExportTrakPyOptions) error { got = o; return nil })
			err := runCmd(cmd, append([]string{"trak-py"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dir != tt.want.Dir || got.DType != tt.want.DType || got.Force != tt.want.Force || got.Copy != tt.want.Copy || !slices.Equal(got.ModelIDs, tt.want.ModelIDs) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// Through the binary: usage errors exit 2.
	for _, args := range [][]string{{"export", "trak-py"}, {"export", "trak-py", "out", "--save-dir", "s", "--dtype", "f8"}, {"export", "nosuch", "out"}, {"export", "trakpy", "out"}} {
		if _, errOut, code := trak(t, t.TempDir(), args...); code != 2 {
			t.Errorf("trak %s: exit %d, want 2\n%s", strings.Join(args, " "), code, errOut)
		}
	}
}
