package store

import (
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
