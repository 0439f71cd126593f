package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/testutil"
)

// newModel returns a store with model id registered and its train rows
// created, rows 1 and 3 done.
func newModel(t *testing.T, ids ...int) *Store {
	t.Helper()
	s, err := Create(t.TempDir(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := s.AddModel(id, fmt.Sprintf("ckpt%d", id), fmt.Sprintf("sha%d", id)); err != nil {
			t.Fatal(err)
		}
		r, err := s.TrainRows(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Put([]int{1, 3}, []float32{1, 2, 3, 4, 5, 6}, []float32{0.5, 0.25}); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	return s
}

// TestMissingArrayUnderDoneFlags: a data array deleted while its flags say
// rows are done is an error naming it and the fix, never re-created
// zero-filled; with no row done it is simply created.
func TestMissingArrayUnderDoneFlags(t *testing.T) {
	for _, name := range []string{"grads.npy", "out_to_loss.npy"} {
		t.Run(name, func(t *testing.T) {
			s := newModel(t, 0)
			path := filepath.Join(s.ModelDir(0), name)
			os.Remove(path)
			_, err := s.TrainRows(0)
			testutil.WantErr(t, err, path+" is missing", "is_featurized.npy marks 2 of 5 rows done", "remove "+s.ModelDir(0)+" and featurize model 0 again")
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s was re-created", name)
			}
		})
	}
	t.Run("no row done", func(t *testing.T) {
		s, _ := Create(t.TempDir(), testMeta())
		s.AddModel(0, "c", "s")
		r, _ := s.TrainRows(0)
		r.Close()
		os.Remove(filepath.Join(s.ModelDir(0), "grads.npy"))
		r, err := s.TrainRows(0)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	})
	t.Run("embedding table", func(t *testing.T) {
		s := newModel(t, 0)
		tab, err := s.Table(0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.Put([]int{0}, []float32{1, 0}, []float32{0, 1}); err != nil {
			t.Fatal(err)
		}
		tab.Close()
		os.Remove(filepath.Join(s.ModelDir(0), "embeddings_text.npy"))
		_, err = s.Table(0, 2)
		testutil.WantErr(t, err, "embeddings_text.npy is missing", "is_embedded.npy marks 1 of 5 rows done", "featurize model 0 again")
	})
	t.Run("target features", func(t *testing.T) {
		s := newModel(t, 0)
		r, _ := s.TargetRows(0, "val", 2)
		r.Put([]int{0}, []float32{1, 2, 3}, nil)
		r.Close()
		os.Remove(s.TargetGradsPath(0, "val"))
		_, err := s.TargetRows(0, "val", 2)
		testutil.WantErr(t, err, "val_grads.npy is missing", "remove "+s.TargetGradsPath(0, "val")+" and "+s.TargetFlagsPath(0, "val"), "trak score --exp val")
	})
}

// TestFlagsRecreatedPending: flags that are deleted come back all pending,
// so every row is computed again rather than trusted.
func TestFlagsRecreatedPending(t *testing.T) {
	s := newModel(t, 0)
	os.Remove(filepath.Join(s.ModelDir(0), "is_featurized.npy"))
	r, err := s.TrainRows(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Pending(0, 5); len(got) != 5 {
		t.Errorf("pending %v after the flags were re-created, want every row", got)
	}
}

// TestForeignArray: an array copied from another model directory, or one
// without its record, is refused; so is a record that names another array.
func TestForeignArray(t *testing.T) {
	copyFile := func(t *testing.T, from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("copied with its record", func(t *testing.T) {
		s := newModel(t, 0, 1)
		for _, n := range []string{"grads.npy", "grads.npy.json"} {
			copyFile(t, filepath.Join(s.ModelDir(1), n), filepath.Join(s.ModelDir(0), n))
		}
		_, err := s.TrainRows(0)
		testutil.WantErr(t, err, "grads.npy belongs to another model directory", "names model 1", "featurize model 0 again")
	})
	t.Run("no record", func(t *testing.T) {
		s := newModel(t, 0)
		os.Remove(filepath.Join(s.ModelDir(0), "out_to_loss.npy.json"))
		_, err := s.TrainRows(0)
		testutil.WantErr(t, err, "out_to_loss.npy has no record out_to_loss.npy.json", "featurize model 0 again")
	})
	t.Run("record of another array", func(t *testing.T) {
		s := newModel(t, 0)
		d := s.ModelDir(0)
		copyFile(t, filepath.Join(d, "is_featurized.npy.json"), filepath.Join(d, "grads.npy.json"))
		_, err := s.TrainRows(0)
		testutil.WantErr(t, err, "grads.npy does not match its record")
	})
	t.Run("meta.json of another model", func(t *testing.T) {
		s := newModel(t, 0, 1)
		copyFile(t, filepath.Join(s.ModelDir(1), "meta.json"), filepath.Join(s.ModelDir(0), "meta.json"))
		_, err := s.TrainRows(0)
		testutil.WantErr(t, err, "meta.json of model 1, not of model 0")
	})
	t.Run("orphan record of a removed array", func(t *testing.T) {
		// An array removed with no row done comes back, and its old record
		// (here another directory's) is replaced.
		s, _ := Create(t.TempDir(), testMeta())
		s.AddModel(0, "c0", "s0")
		s.AddModel(1, "c1", "s1")
		for _, id := range []int{0, 1} {
			r, _ := s.TargetRows(id, "val", 2)
			r.Close()
		}
		os.Remove(s.TargetGradsPath(0, "val"))
		copyFile(t, s.TargetGradsPath(1, "val")+".json", s.TargetGradsPath(0, "val")+".json")
		r, err := s.TargetRows(0, "val", 2)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if r, err = s.TargetRows(0, "val", 2); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		r.Close()
	})
}

// TestMetaJSONMissing: a model directory whose meta.json is gone keeps its
// arrays from being adopted by another checkpoint, and is not silently left
// out of the model ids.
func TestMetaJSONMissing(t *testing.T) {
	s := newModel(t, 0, 1)
	os.Remove(filepath.Join(s.ModelDir(1), "meta.json"))
	fix := "remove " + s.ModelDir(1) + " and featurize model 1 again"
	_, err := s.AddModel(1, "other", "othersha")
	testutil.WantErr(t, err, "holds grads.npy", "but no meta.json", fix)
	_, err = s.ModelIDs()
	testutil.WantErr(t, err, "no meta.json", fix)
	_, err = s.ModelMeta(1)
	testutil.WantErr(t, err, "no meta.json", fix)
	_, err = s.TrainRows(1)
	testutil.WantErr(t, err, "no meta.json", fix)

	// A directory being registered (only hidden temporary files so far) is
	// not an orphan.
	os.RemoveAll(s.ModelDir(1))
	os.MkdirAll(s.ModelDir(2), 0o755)
	os.WriteFile(filepath.Join(s.ModelDir(2), ".meta.json.tmp-1"), nil, 0o644)
	if ids, err := s.ModelIDs(); err != nil || len(ids) != 1 {
		t.Errorf("ModelIDs = %v, %v; want [0]", ids, err)
	}
}

// TestLegacyModelDir: a model directory made before identities were
// recorded (no model_uid, no records) keeps working, with the checks that
// need no identity.
func TestLegacyModelDir(t *testing.T) {
	s := newModel(t, 0)
	d := s.ModelDir(0)
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".npy.json") {
			os.Remove(filepath.Join(d, e.Name()))
		}
	}
	m, _ := s.ModelMeta(0)
	m.ModelUID = ""
	if err := s.SetModelMeta(m); err != nil {
		t.Fatal(err)
	}
	r, err := s.TrainRows(0)
	if err != nil {
		t.Fatalf("legacy directory: %v", err)
	}
	r.Close()
	if r, err = s.TargetRows(0, "val", 3); err != nil {
		t.Fatalf("new arrays in a legacy directory: %v", err)
	}
	r.Close()
	if _, err := os.Stat(s.TargetGradsPath(0, "val") + ".json"); err == nil {
		t.Error("a record was written in a directory without identity")
	}
	os.Remove(filepath.Join(d, "grads.npy"))
	_, err = s.TrainRows(0)
	testutil.WantErr(t, err, "grads.npy is missing")
}

// TestConcurrentGroupCreate: processes creating the same arrays at once
// all succeed and share one set of files and records.
func TestConcurrentGroupCreate(t *testing.T) {
	s, _ := Create(t.TempDir(), testMeta())
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AddModel(0, "c", "s"); err != nil {
				errs[i] = err
				return
			}
			tab, err := s.Table(0, 4)
			if err != nil {
				errs[i] = err
				return
			}
			tab.Close()
			r, err := s.TargetRows(0, "val", 3)
			if err == nil {
				r.Close()
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

// TestSettingsChecksum: metadata.json records a checksum of its settings;
// a hand edit of a setting is refused naming the file, a reformatted file
// and a store without the checksum open.
func TestSettingsChecksum(t *testing.T) {
	dir := t.TempDir()
	m := testMeta()
	m.Seed = 1 << 60 // beyond float64's integers: the checksum must see the digits
	if _, err := Create(dir, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "metadata.json")
	orig, _ := os.ReadFile(path)
	if !strings.Contains(string(orig), `"settings_sha256": "sha256:`) {
		t.Fatalf("no checksum in %s", orig)
	}
	for _, c := range []struct{ from, to string }{
		{`"seed": 1152921504606846976`, `"seed": 1152921504606846977`},
		{`"k": 3`, `"k": 4`},
		{`"projector": "rademacher"`, `"projector": "normal"`},
	} {
		edited := strings.Replace(string(orig), c.from, c.to, 1)
		if edited == string(orig) {
			t.Fatalf("%q not in %s", c.from, orig)
		}
		os.WriteFile(path, []byte(edited), 0o644)
		_, err := Open(dir)
		testutil.WantErr(t, err, path+" was edited after the store was made", "settings_sha256", "restore the original file")
		_, err = Create(dir, m)
		testutil.WantErr(t, err, "was edited")
	}
	// Reformatting changes no setting.
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(string(orig)))
	dec.UseNumber()
	dec.Decode(&v)
	compact, _ := json.Marshal(v)
	os.WriteFile(path, compact, 0o644)
	if _, err := Open(dir); err != nil {
		t.Errorf("reformatted metadata.json: %v", err)
	}
	// A store made before the checksum was recorded.
	delete(v, "settings_sha256")
	legacy, _ := json.Marshal(v)
	os.WriteFile(path, legacy, 0o644)
	if _, err := Open(dir); err != nil {
		t.Errorf("metadata.json without a checksum: %v", err)
	}
}

// TestOpenRemovesStaleTemps: temporary files that killed writers left in
// the store are removed when it is opened; one a live writer holds stays.
func TestOpenRemovesStaleTemps(t *testing.T) {
	s := newModel(t, 0)
	os.MkdirAll(filepath.Join(s.Dir, "scores"), 0o755)
	stale := []string{
		filepath.Join(s.Dir, ".experiments.json.tmp-12"),
		filepath.Join(s.ModelDir(0), ".grads.npy.tmp-345"),
		filepath.Join(s.Dir, "scores", "..val.npy.partial.tmp-6"),
	}
	for _, p := range stale {
		os.WriteFile(p, []byte("left by a killed run"), 0o644)
	}
	live := filepath.Join(s.ModelDir(0), "live.npy")
	started, release := make(chan struct{}), make(chan struct{})
	go atomicfile.CreateNew(live, 0o644, func(*os.File) error {
		close(started)
		<-release
		return nil
	})
	<-started
	if _, err := Open(s.Dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil && lockSupported {
			t.Errorf("%s survived the open", p)
		}
	}
	entries, _ := os.ReadDir(s.ModelDir(0))
	held := false
	for _, e := range entries {
		held = held || strings.HasPrefix(e.Name(), ".live.npy.tmp-")
	}
	if !held {
		t.Error("the live writer's temporary file was removed")
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(live); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the live writer did not finish: %v", err)
	}
}

// TestLockFileRemovedAndExclusive: lock files are gone after use, and
// removing them keeps the lock exclusive under contention.
func TestLockFileRemovedAndExclusive(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, ".counter.lock")
	counter := filepath.Join(dir, "counter")
	os.WriteFile(counter, []byte("0"), 0o644)
	var wg sync.WaitGroup
	const workers, rounds = 8, 100
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				unlock, err := lockFile(lock)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := os.ReadFile(counter)
				var n int
				fmt.Sscan(string(b), &n)
				time.Sleep(time.Microsecond)
				os.WriteFile(counter, []byte(fmt.Sprint(n+1)), 0o644)
				unlock()
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(counter)
	if want := fmt.Sprint(workers * rounds); string(b) != want && lockSupported {
		t.Errorf("counter %s, want %s: two holders at once", b, want)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Errorf("%s left behind", lock)
	}
}

// TestExperimentLeavesNoLock: recording an experiment leaves no lock file.
func TestExperimentLeavesNoLock(t *testing.T) {
	s := newModel(t)
	if err := s.SetExperiment("val", Experiment{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, ".experiments.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".experiments.lock: %v, want it removed", err)
	}
}

// TestPutRefusesNonFinite: a row whose features or Q are not finite, or
// whose features overflow float16, is refused before its flag is set.
func TestPutRefusesNonFinite(t *testing.T) {
	for _, c := range []struct {
		dtype string
		feats []float32
		q     float32
		want  string
	}{
		{"float32", []float32{1, float32(math.NaN()), 3}, 0.5, "grads.npy row 2: feature 1 is NaN"},
		{"float32", []float32{1, 2, 3}, float32(math.Inf(1)), "out_to_loss.npy row 2: the out-to-loss term is +Inf"},
		{"float16", []float32{1, 70000, 3}, 0.5, "beyond float16's range (±65504): use features_dtype: float32"},
	} {
		m := testMeta()
		m.FeaturesDType = c.dtype
		s, _ := Create(t.TempDir(), m)
		s.AddModel(0, "c", "s")
		r, err := s.TrainRows(0)
		if err != nil {
			t.Fatal(err)
		}
		testutil.WantErr(t, r.Put([]int{2}, c.feats, []float32{c.q}), c.want)
		if r.Done(2) {
			t.Errorf("%s %v: row marked done", c.dtype, c.feats)
		}
		r.Close()
	}
}
