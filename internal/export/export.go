// Package export writes a trak store in the on-disk layout of MadryLab's
// Python trak library (the directory its MmapSaver reads), so that a
// TRAKer opened on the exported directory with load_from_save_dir=True
// finds the store's train features, out-to-loss terms, finalized features,
// target features and scores. It has that one job: it reads the store and
// never changes it.
//
// Which store file becomes which library file, and what cannot be carried
// over, is in the README ("Export to the Python trak library").
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

// Options is what Export runs with.
type Options struct {
	Dir      string    // the directory to write
	ModelIDs []int     // the models to export; empty: every model of the store
	DType    npy.DType // Float32 or Float16; zero: the store's features dtype
	// Force replaces what an earlier export (or the library) left in a
	// non-empty Dir. Without it a non-empty Dir is refused, unless it holds
	// an unfinished export of the same store, which is replaced.
	Force bool
	// Copy copies files the export could hard-link.
	Copy        bool
	ToolVersion string // recorded in trak_export.json
}

// Summary is what Export wrote.
type Summary struct {
	Dir         string // absolute
	DType       npy.DType
	Metadata    SaverMetadata
	Models      []ModelSummary
	Experiments []ExperimentSummary
	// Left are the store's experiments that were not exported, with why.
	Left  []LeftExperiment
	Files []FileRecord
	// LinkErr is why files were copied rather than hard-linked (nil when
	// every link worked or none was tried).
	LinkErr error
	// Underflow counts values that are non-zero in the store and became
	// zero in a float16 export.
	Underflow int64
	Resumed   bool // Dir held an unfinished export of this store
}

// ModelSummary is one exported model.
type ModelSummary struct {
	ID             int     `json:"model_id"`
	Finalized      bool    `json:"finalized"`
	FinalizeLambda float64 `json:"finalize_lambda,omitempty"`
	SkippedRows    int     `json:"skipped_rows"`
	Checkpoint     string  `json:"checkpoint"`
}

// ExperimentSummary is one exported experiment.
type ExperimentSummary struct {
	Name       string `json:"name"`
	NumTargets int    `json:"num_targets"`
	ModelIDs   []int  `json:"model_ids"` // the models its scores average
}

// LeftExperiment is an experiment of the store that was not exported.
type LeftExperiment struct {
	Name, Reason string
}

// marker is the content of trak_export.json.
type marker struct {
	Format      string              `json:"format"` // "trak-py"
	Complete    bool                `json:"complete"`
	Store       string              `json:"store"` // absolute
	ToolVersion string              `json:"tool_version,omitempty"`
	DType       string              `json:"dtype"`
	HalfPrec    bool                `json:"use_half_precision"`
	Projector   string              `json:"projector,omitempty"`
	Seed        int64               `json:"seed"`
	Models      []ModelSummary      `json:"models,omitempty"`
	Experiments []ExperimentSummary `json:"experiments,omitempty"`
	Files       []FileRecord        `json:"files,omitempty"`
	Note        string              `json:"note"`
}

const markerFormat = "trak-py"

// markerNote is repeated in every trak_export.json, where a reader of the
// directory finds it.
const markerNote = "Written by `trak export trak-py`. The features were projected with trak's projection " +
	"(a Philox-based matrix of its own, keyed by the store's seed and the model id), not the Python library's: " +
	"featurizing more checkpoints or targets into this directory with the library's projector gives numbers " +
	"that do not match these. Scoring with the exported target features, and finalizing exported train " +
	"features, work."

// Export writes the store st in the Python library's layout to opt.Dir.
// The models and experiments are checked before Dir is touched, so that a
// store that cannot be exported (a model not fully featurized, files that
// changed since finalize) leaves Dir as it was; a value out of float16's
// range is found only while converting, and leaves an unfinished export
// that the next run replaces.
func Export(ctx context.Context, st *store.Store, opt Options) (*Summary, error) {
	meta, err := Metadata(st.Meta)
	if err != nil {
		return nil, err
	}
	storeDType := npy.Float32
	if st.Meta.FeaturesDType == "float16" {
		storeDType = npy.Float16
	}
	dtype := opt.DType
	if dtype == 0 {
		dtype = storeDType
	}
	if dtype != npy.Float32 && dtype != npy.Float16 {
		return nil, fmt.Errorf("export dtype %s: want float32 or float16", dtype)
	}
	if opt.Dir == "" {
		return nil, errors.New("no directory to export to")
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, err
	}
	storeDir, err := filepath.Abs(st.Dir)
	if err != nil {
		return nil, err
	}

	models, err := planModels(st, opt.ModelIDs, storeDType)
	if err != nil {
		return nil, err
	}
	exps, left, err := planExperiments(st, models)
	if err != nil {
		return nil, err
	}
	resumed, err := prepareDir(dir, storeDir, opt.Force)
	if err != nil {
		return nil, err
	}

	sum := &Summary{Dir: dir, DType: dtype, Metadata: meta, Models: models, Experiments: exps, Left: left, Resumed: resumed}
	mk := marker{
		Format: markerFormat, Store: storeDir, ToolVersion: opt.ToolVersion,
		DType: dtypeName(dtype), HalfPrec: dtype == npy.Float16,
		Projector: meta.JLMatrixType, Seed: st.Meta.Seed, Models: models, Experiments: exps, Note: markerNote,
	}
	w := &writer{ctx: ctx, dir: dir, storeDir: st.Dir, dtype: dtype, copyOnly: opt.Copy}
	// The marker goes first, marked unfinished, so that an interrupted
	// export is recognised (and replaced) by the next run, and last,
	// complete.
	if err := writeMarker(dir, mk); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, scoresDirName), 0o755); err != nil {
		return nil, err
	}
	n, k := st.Meta.TrainSize, st.Meta.K
	for i := range sum.Models {
		m := &sum.Models[i]
		id := m.ID
		if err := os.MkdirAll(filepath.Join(dir, strconv.Itoa(id)), 0o755); err != nil {
			return nil, err
		}
		in := func(name string) string { return filepath.Join(strconv.Itoa(id), name) }
		refeat := fmt.Sprintf("remove %s and featurize model %d again", st.ModelDir(id), id)
		// The train arrays of a model the library has yet to finalize are
		// copies: finalize_features maps them writable and computes on
		// them, and some library versions scaled the gradients in place,
		// which through a link would change the store's grads.npy.
		link := m.Finalized
		if err := w.array(in(gradsName), st.GradsPath(id), npy.Header{DType: storeDType, Shape: []int{n, k}}, link, refeat); err != nil {
			return nil, err
		}
		if err := w.array(in(outToLossName), st.OutToLossPath(id), npy.Header{DType: npy.Float32, Shape: []int{n, 1}}, link, refeat); err != nil {
			return nil, err
		}
		if m.Finalized {
			fix := fmt.Sprintf("run `trak finalize --model-id %d`", id)
			if err := w.array(in(featuresName), st.FeaturesPath(id), npy.Header{DType: npy.Float32, Shape: []int{n, k}}, true, fix); err != nil {
				return nil, err
			}
		} else if err := w.zeros(in(featuresName), npy.Header{DType: dtype, Shape: []int{n, k}}); err != nil {
			return nil, err
		}
		skipped, err := w.flags(in(flagsName), flagsPath(st, id), n, refeat)
		if err != nil {
			return nil, err
		}
		m.SkippedRows = skipped
		// The status file comes after the model's arrays: the library lists
		// models by these files, so a model appears only once complete.
		if err := w.json(modelStatusName(id), ModelStatusJSON(id, m.Finalized)); err != nil {
			return nil, err
		}
	}
	numTargets := map[string]int{}
	for _, e := range sum.Experiments {
		again := fmt.Sprintf("run `trak score --exp %s` again", e.Name)
		for _, id := range e.ModelIDs {
			rel := filepath.Join(strconv.Itoa(id), targetGradsName(e.Name))
			if err := w.array(rel, st.TargetGradsPath(id, e.Name), npy.Header{DType: npy.Float32, Shape: []int{e.NumTargets, k}}, true, again); err != nil {
				return nil, err
			}
		}
		// Never a link: the library's finalize_scores rewrites the score
		// file in place, which through a link would change the store's.
		if err := w.array(scoresName(e.Name), st.ScoresPath(e.Name), npy.Header{DType: npy.Float32, Shape: []int{n, e.NumTargets}}, false, again); err != nil {
			return nil, err
		}
		numTargets[e.Name] = e.NumTargets
	}
	if err := w.json(experimentsName, ExperimentsJSON(dir, numTargets)); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(meta) // cannot fail
	if err := w.json(metadataName, raw); err != nil {
		return nil, err
	}
	syncDirs(dir, sum.Models)
	sum.Files, sum.LinkErr, sum.Underflow = w.files, w.linkErr, w.underflow
	mk.Complete, mk.Files, mk.Models = true, w.files, sum.Models
	if err := writeMarker(dir, mk); err != nil {
		return nil, err
	}
	return sum, nil
}

// flagsPath is the store's is_featurized.npy of model id; the store names
// it only through TrainRows, which opens it read-write.
func flagsPath(st *store.Store, id int) string {
	return filepath.Join(st.ModelDir(id), "is_featurized.npy")
}

// planModels picks the models to export and checks, without changing the
// store, that each is fully featurized and that its files still are the
// ones finalize saw.
func planModels(st *store.Store, want []int, gradsDType npy.DType) ([]ModelSummary, error) {
	ids, err := st.ModelIDs()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("store %s has no featurized checkpoints: run `trak featurize` first", st.Dir)
	}
	if len(want) > 0 {
		for _, id := range want {
			if !slices.Contains(ids, id) {
				return nil, fmt.Errorf("model id %d is not in store %s (it has %v)", id, st.Dir, ids)
			}
		}
		ids = slices.Clone(want)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	var out []ModelSummary
	for _, id := range ids {
		m, err := checkModel(st, id, gradsDType)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func checkModel(st *store.Store, id int, gradsDType npy.DType) (ModelSummary, error) {
	meta, err := st.ModelMeta(id)
	if err != nil {
		return ModelSummary{}, err
	}
	leaveOut := fmt.Sprintf("finish it with `trak featurize --model-id %d` (it resumes), or export the other models with --model-id", id)
	if !st.HasTrainRows(id) {
		return ModelSummary{}, fmt.Errorf("model %d is not featurized: %s", id, leaveOut)
	}
	n, k := st.Meta.TrainSize, st.Meta.K
	refeat := fmt.Sprintf("remove %s and featurize model %d again", st.ModelDir(id), id)
	for _, a := range []struct {
		path string
		h    npy.Header
	}{
		{st.GradsPath(id), npy.Header{DType: gradsDType, Shape: []int{n, k}}},
		{st.OutToLossPath(id), npy.Header{DType: npy.Float32, Shape: []int{n, 1}}},
	} {
		f, err := openArray(a.path, a.h, refeat)
		if err != nil {
			return ModelSummary{}, fmt.Errorf("model %d: %w", id, err)
		}
		f.Close()
	}
	flags, err := openArray(flagsPath(st, id), npy.Header{DType: npy.Uint8, Shape: []int{n}}, refeat)
	if err != nil {
		return ModelSummary{}, fmt.Errorf("model %d: %w", id, err)
	}
	pending := 0
	for _, f := range flags.Uint8s() {
		if f == 0 {
			pending++
		}
	}
	flags.Close()
	if pending > 0 {
		// The library would featurize the missing rows with its own
		// projection, which does not match trak's.
		return ModelSummary{}, fmt.Errorf("model %d: %d of %d train rows are not featurized: %s", id, pending, n, leaveOut)
	}
	m := ModelSummary{ID: id, Finalized: meta.Finalized, FinalizeLambda: meta.FinalizeLambda, Checkpoint: meta.Checkpoint}
	if !meta.Finalized {
		return m, nil
	}
	refinal := fmt.Sprintf("run `trak finalize --model-id %d` (it finalizes again where needed)", id)
	f, err := openArray(st.FeaturesPath(id), npy.Header{DType: npy.Float32, Shape: []int{n, k}}, refinal)
	if err != nil {
		return ModelSummary{}, fmt.Errorf("model %d: %w", id, err)
	}
	f.Close()
	// finalize stamped the three files; a file that moved since means the
	// features no longer belong to the train arrays beside them.
	for _, s := range []struct {
		stamp *store.Stamp
		path  string
	}{
		{meta.Features, st.FeaturesPath(id)},
		{meta.Grads, st.GradsPath(id)},
		{meta.OutToLoss, st.OutToLossPath(id)},
	} {
		if s.stamp == nil {
			continue
		}
		if _, err := s.stamp.Verify(s.path, true); err != nil {
			var ce *store.ChangedError
			if errors.As(err, &ce) {
				return ModelSummary{}, fmt.Errorf("model %d: %v since finalize: %s", id, err, refinal)
			}
			return ModelSummary{}, err
		}
	}
	return m, nil
}

// planExperiments picks the experiments to export: those scored, from
// models that are all exported, whose scores are still those score wrote.
// The others are left, with why.
func planExperiments(st *store.Store, models []ModelSummary) ([]ExperimentSummary, []LeftExperiment, error) {
	all, err := st.Experiments()
	if err != nil {
		return nil, nil, err
	}
	exported := map[int]bool{}
	for _, m := range models {
		exported[m.ID] = m.Finalized
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	var exps []ExperimentSummary
	var left []LeftExperiment
	n, k := st.Meta.TrainSize, st.Meta.K
	for _, name := range names {
		e := all[name]
		reason := func() string {
			if !e.Scored {
				return fmt.Sprintf("it is not scored: run `trak score --exp %s` first", name)
			}
			var missing []int
			for _, id := range e.ModelIDs {
				if fin, ok := exported[id]; !ok || !fin {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return fmt.Sprintf("its scores average models %v, of which %v are not exported finalized: add them with --model-id", e.ModelIDs, missing)
			}
			if _, err := st.CheckScores(name, e); err != nil {
				return err.Error()
			}
			again := fmt.Sprintf("run `trak score --exp %s` again", name)
			arrays := []struct {
				path string
				h    npy.Header
			}{{st.ScoresPath(name), npy.Header{DType: npy.Float32, Shape: []int{n, e.NumTargets}}}}
			for _, id := range e.ModelIDs {
				arrays = append(arrays, struct {
					path string
					h    npy.Header
				}{st.TargetGradsPath(id, name), npy.Header{DType: npy.Float32, Shape: []int{e.NumTargets, k}}})
			}
			for _, a := range arrays {
				f, err := openArray(a.path, a.h, again)
				if err != nil {
					return err.Error()
				}
				f.Close()
			}
			return ""
		}()
		if reason != "" {
			left = append(left, LeftExperiment{Name: name, Reason: reason})
			continue
		}
		exps = append(exps, ExperimentSummary{Name: name, NumTargets: e.NumTargets, ModelIDs: slices.Clone(e.ModelIDs)})
	}
	return exps, left, nil
}

// prepareDir makes dir ready for an export of the store in storeDir: it
// creates it, or empties what an earlier export or the library wrote there
// when that is allowed (see Options.Force). It reports whether dir held an
// unfinished export of the same store.
func prepareDir(dir, storeDir string, force bool) (resumed bool, err error) {
	if within(dir, storeDir) || within(storeDir, dir) {
		return false, fmt.Errorf("%s is the store %s, lies inside it or holds it: export to a directory outside the store", dir, storeDir)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("create %s: %w", dir, err)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s exists and is not a directory: choose another directory to export to", dir)
	}
	if sfi, err := os.Stat(storeDir); err == nil && os.SameFile(fi, sfi) {
		return false, fmt.Errorf("%s is the store %s: export to a directory outside the store", dir, storeDir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	if isTrakStore(dir) {
		return false, fmt.Errorf("%s is a trak store, not an export: export to another directory", dir)
	}
	mk, ok := readMarker(dir)
	resumed = ok && !mk.Complete && mk.Store == storeDir
	if !resumed && !force {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) > 3 {
			names = append(names[:3], "…")
		}
		return false, fmt.Errorf("%s is not empty (it holds %s): give --force to replace what an earlier export or the Python library wrote there, or export to a new directory",
			dir, strings.Join(names, ", "))
	}
	return resumed, clean(dir, entries)
}

// within reports whether path is base or lies inside it (both absolute
// and clean).
func within(path, base string) bool {
	rel, err := filepath.Rel(base, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isTrakStore reports whether dir holds a trak store's metadata.json.
func isTrakStore(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, metadataName))
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m["format_version"]
	return ok
}

// clean removes from dir what belongs to the library's layout: the JSON
// files, id_*.json, the model directories, scores/, and temporary files
// an interrupted export left. Anything else stays. Leftovers must go: the
// library lists every id_*.json it finds and would take a model of the
// earlier export for one of this.
func clean(dir string, entries []os.DirEntry) error {
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		var err error
		switch {
		case name == metadataName, name == experimentsName, name == markerName,
			strings.HasPrefix(name, "id_") && strings.HasSuffix(name, ".json"),
			atomicfile.IsTemp(name) && e.Type().IsRegular():
			err = os.Remove(path)
		case name == scoresDirName, e.IsDir() && isModelDirName(name):
			err = os.RemoveAll(path)
		}
		if err != nil {
			return fmt.Errorf("replace the earlier export in %s: %w", dir, err)
		}
	}
	return nil
}

// isModelDirName reports whether name is a model id as the library names
// its directories.
func isModelDirName(name string) bool {
	id, err := strconv.Atoi(name)
	return err == nil && id >= 0 && strconv.Itoa(id) == name
}

func readMarker(dir string) (marker, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return marker{}, false
	}
	var m marker
	if json.Unmarshal(raw, &m) != nil || m.Format != markerFormat {
		return marker{}, false
	}
	return m, true
}

func writeMarker(dir string, m marker) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, markerName), append(data, '\n'), 0o644)
}

// syncDirs makes the hard links in the model directories and scores/
// durable before the marker says the export is complete (atomicfile syncs
// the directory of each file it renames, not of a link). It is best
// effort: some file systems cannot sync a directory, and the links are
// made all the same.
func syncDirs(dir string, models []ModelSummary) {
	dirs := []string{filepath.Join(dir, scoresDirName)}
	for _, m := range models {
		dirs = append(dirs, filepath.Join(dir, strconv.Itoa(m.ID)))
	}
	for _, d := range dirs {
		if f, err := os.Open(d); err == nil {
			f.Sync()
			f.Close()
		}
	}
}
