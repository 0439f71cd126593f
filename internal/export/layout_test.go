package export

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/store"
)

func TestMetadata(t *testing.T) {
	base := store.Metadata{TrainSize: 40, K: 32, NumParams: 63}
	for _, tt := range []struct {
		projector, want string
	}{
		{"rademacher", "rademacher"},
		{"", "rademacher"},
		{"normal", "normal"},
		{"none", "na"},
	} {
		m := base
		m.Projector = tt.projector
		got, err := Metadata(m)
		if err != nil {
			t.Fatalf("%q: %v", tt.projector, err)
		}
		if got != (SaverMetadata{JLDimension: 32, JLMatrixType: tt.want, TrainSetSize: 40}) {
			t.Errorf("%q: %+v", tt.projector, got)
		}
	}
	// The key names are the library's, spaces included.
	raw, _ := json.Marshal(SaverMetadata{JLDimension: 2048, JLMatrixType: "rademacher", TrainSetSize: 7})
	if want := `{"JL dimension":2048,"JL matrix type":"rademacher","train set size":7}`; string(raw) != want {
		t.Errorf("metadata.json = %s, want %s", raw, want)
	}
	m := base
	m.Projector = "sparse"
	if _, err := Metadata(m); err == nil || !strings.Contains(err.Error(), `"sparse"`) {
		t.Errorf("unknown projector: %v", err)
	}
	m = base
	m.Projector, m.S = "sjlt", 4
	if _, err := Metadata(m); err == nil || !strings.Contains(err.Error(), `projector "sjlt" has no counterpart in the Python library`) || !strings.Contains(err.Error(), "rademacher") {
		t.Errorf("sjlt: %v", err)
	}
	m = base
	m.K = 0
	if _, err := Metadata(m); err == nil {
		t.Error("k = 0 accepted")
	}
}

func TestFeaturizedFlags(t *testing.T) {
	dst := make([]int32, 4)
	skipped, err := FeaturizedFlags(dst, []uint8{1, 2, 1, 2})
	if err != nil || skipped != 2 {
		t.Fatalf("skipped %d, err %v", skipped, err)
	}
	for i, v := range dst {
		if v != 1 {
			t.Errorf("row %d: flag %d, want 1 (done and skipped rows are both finished)", i, v)
		}
	}
	_, err = FeaturizedFlags(make([]int32, 3), []uint8{1, 0, 1})
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Row != 1 || !strings.Contains(err.Error(), "not featurized") {
		t.Errorf("pending row: %v", err)
	}
	if _, err := FeaturizedFlags(make([]int32, 1), []uint8{7}); !errors.As(err, &pe) || pe.Flag != 7 {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := FeaturizedFlags(make([]int32, 1), []uint8{1, 1}); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestStatusAndExperimentsJSON(t *testing.T) {
	if got := string(ModelStatusJSON(3, true)); got != `{"3":{"is_featurized":1,"is_finalized":1}}` {
		t.Errorf("finalized: %s", got)
	}
	if got := string(ModelStatusJSON(0, false)); got != `{"0":{"is_featurized":1,"is_finalized":0}}` {
		t.Errorf("not finalized: %s", got)
	}
	got := string(ExperimentsJSON("/x/out", map[string]int{"val": 6}))
	if want := `{"val":{"num_targets":6,"scores_path":"/x/out/scores/val.mmap","scores_finalized":1}}`; got != want {
		t.Errorf("experiments.json = %s, want %s", got, want)
	}
	if got := string(ExperimentsJSON("/x", nil)); got != "{}" {
		t.Errorf("no experiments: %s", got)
	}
}

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		modelStatusName(12):    "id_12.json",
		targetGradsName("val"): "val_grads.mmap",
		scoresName("val"):      "scores/val.mmap",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	// trak's own record must not be listed by the library as a model.
	if strings.HasPrefix(markerName, "id_") {
		t.Errorf("%s matches the library's id_*.json", markerName)
	}
}
