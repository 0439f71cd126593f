package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIPNoRows: a header-only train set used to be featurized into a
// store of 0 rows and called complete, and a header-only targets file
// failed deep in score with "G has no rows"; both are refused up front,
// naming the file.
func TestCLIPNoRows(t *testing.T) {
	dir := clipFixture(t, 4, 1)
	writeFile(t, dir, "header.csv", "filepath,title\n")
	common := []string{"--model-config", "model.json", "--projector-dim", "8", "--sim-batch-size", "2"}

	_, errOut, code := trak(t, dir, append([]string{"featurize", "--save-dir", "empty", "--train-data", "header.csv", "--checkpoint", "ckpt0.safetensors"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "train data "+filepath.Join(dir, "header.csv")+" has no rows") {
		t.Errorf("featurize of a header-only train set: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "empty")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a store was made for no rows: %v", err)
	}

	mustTrak(t, dir, append([]string{"featurize", "--save-dir", "store", "--train-data", "train.csv", "--checkpoint", "ckpt0.safetensors"}, common...)...)
	mustTrak(t, dir, "finalize", "--save-dir", "store", "--lambda", "0.01")
	_, errOut, code = trak(t, dir, "score", "--save-dir", "store", "--targets", "header.csv", "--exp", "none")
	if code != 1 || !strings.Contains(errOut, "targets header.csv has no rows") || strings.Contains(errOut, "G has") {
		t.Errorf("score of header-only targets: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "scores", "none.npy")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("scores written for no targets: %v", err)
	}
}
