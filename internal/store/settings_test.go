package store

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestCheckCLIPSettings: a different sim_batch_size or vocabulary is a
// mismatch naming the key that sets it; a store made before the settings
// were recorded compares neither.
func TestCheckCLIPSettings(t *testing.T) {
	rec := CLIPSettings{SimBatchSize: 5, Tokenizer: "sha256:a"}
	s := &Store{Dir: "x", Meta: Metadata{Task: "clip", CLIPSettings: rec}}
	if err := s.Check(Metadata{Task: "clip", CLIPSettings: rec}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		want CLIPSettings
		msg  string
	}{
		{CLIPSettings{SimBatchSize: 6, Tokenizer: "sha256:a"}, "sim_batch_size: store has 5, this run has 6"},
		{CLIPSettings{SimBatchSize: 5, Tokenizer: "sha256:b"}, "vocab_dir"},
	} {
		err := s.Check(Metadata{Task: "clip", CLIPSettings: c.want})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want %q", c.want, err, c.msg)
		}
	}
	old := &Store{Dir: "x", Meta: Metadata{Task: "clip"}}
	if err := old.Check(Metadata{Task: "clip", CLIPSettings: rec}); err != nil {
		t.Errorf("store without recorded settings: %v", err)
	}
}

// TestCheckNamesTrainFiles: a changed train set names the file given and
// the one the store was made from.
func TestCheckNamesTrainFiles(t *testing.T) {
	s := &Store{Dir: "x", Meta: Metadata{Task: "clip", TrainSize: 3, TrainFingerprint: "a", TrainData: "/old/train.csv"}}
	err := s.Check(Metadata{Task: "clip", TrainSize: 3, TrainFingerprint: "b", TrainData: "/new/train.csv"})
	if err == nil || !strings.Contains(err.Error(), "train_fingerprint") || !strings.Contains(err.Error(), "/new/train.csv") || !strings.Contains(err.Error(), "/old/train.csv") {
		t.Errorf("got %v", err)
	}
}

// TestTablePutRefusesNonFinite: an embedding row holding a NaN or an
// infinity is refused, as a *NonFiniteError naming the array and row, and
// is not marked done.
func TestTablePutRefusesNonFinite(t *testing.T) {
	s, _ := Create(t.TempDir(), testMeta())
	s.AddModel(0, "c", "s")
	tab, err := s.Table(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	err = tab.Put([]int{1}, []float32{1, 2}, []float32{float32(math.Inf(-1)), 0})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Row != 1 || nf.What != "embeddings" || nf.Col != 0 || !strings.Contains(err.Error(), "embeddings_text.npy row 1") {
		t.Errorf("err = %v", err)
	}
	if tab.Done(1) {
		t.Error("row marked done")
	}
}
