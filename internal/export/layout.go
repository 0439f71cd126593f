package export

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

// The Python library's layout (its MmapSaver), relative to the exported
// directory. Its arrays are .npy files under a .mmap name: the library opens
// them with numpy's open_memmap, which reads the .npy header whatever the
// extension.
const (
	metadataName    = "metadata.json"    // "JL dimension", "JL matrix type", "train set size"
	experimentsName = "experiments.json" // exp -> num_targets, scores_path, scores_finalized
	scoresDirName   = "scores"

	gradsName     = "grads.mmap"          // N × k, train features X
	outToLossName = "out_to_loss.mmap"    // N × 1, Q
	featuresName  = "features.mmap"       // N × k, X (XᵀX + λI)⁻¹
	flagsName     = "_is_featurized.mmap" // N, int32: 1 for a featurized row

	// markerName is trak's own record of the export (not read by the
	// library): the source store, the dtype, every file and how it was made.
	// Its name must not match the library's id_*.json pattern.
	markerName = "trak_export.json"
)

// modelStatusName is the library's per-model status file, id_<id>.json, in
// the exported directory's top level.
func modelStatusName(id int) string { return "id_" + strconv.Itoa(id) + ".json" }

// targetGradsName is an experiment's target features of one model, inside
// the model's directory.
func targetGradsName(exp string) string { return exp + "_grads.mmap" }

// scoresName is an experiment's score matrix, relative to the exported
// directory.
func scoresName(exp string) string { return filepath.Join(scoresDirName, exp+".mmap") }

// SaverMetadata is the content of the library's metadata.json. The library
// compares these three values with the TRAKer it is opened by and refuses
// the directory when one differs.
type SaverMetadata struct {
	JLDimension  int    `json:"JL dimension"`
	JLMatrixType string `json:"JL matrix type"`
	TrainSetSize int    `json:"train set size"`
}

// Metadata maps a store's settings onto the library's metadata.json. The
// projection families keep their names (the library calls them
// "rademacher" and "normal"); exact gradients, projector none, are what the
// library's no-op projector gives, whose type it records as "na", with the
// number of parameters as the dimension.
func Metadata(m store.Metadata) (SaverMetadata, error) {
	kind := m.Projector
	switch kind {
	case "", "rademacher": // stores record the default as "rademacher"; "" is read the same way
		kind = "rademacher"
	case "normal":
	case "none":
		kind = "na"
	default:
		return SaverMetadata{}, fmt.Errorf("the store's projector %q has no counterpart in the Python library (it knows rademacher, normal and none): its features cannot be reproduced there; featurize into a new save_dir with projector.type rademacher to export", m.Projector)
	}
	if m.K <= 0 || m.TrainSize <= 0 {
		return SaverMetadata{}, fmt.Errorf("the store records k = %d and a train set of %d rows: it is damaged or was never featurized", m.K, m.TrainSize)
	}
	return SaverMetadata{JLDimension: m.K, JLMatrixType: kind, TrainSetSize: m.TrainSize}, nil
}

// modelStatus is one model's entry in id_<id>.json, whose content is
// {"<id>": modelStatus}. The library uses 0 and 1 for the two flags.
type modelStatus struct {
	IsFeaturized int `json:"is_featurized"`
	IsFinalized  int `json:"is_finalized"`
}

// ModelStatusJSON returns the content of id_<id>.json for a model that is
// fully featurized, finalized or not.
func ModelStatusJSON(id int, finalized bool) []byte {
	s := modelStatus{IsFeaturized: 1}
	if finalized {
		s.IsFinalized = 1
	}
	data, _ := json.Marshal(map[string]modelStatus{strconv.Itoa(id): s}) // cannot fail
	return data
}

// experimentEntry is one experiment in the library's experiments.json.
// scores_path is informational there (the library derives the path from
// the experiment name); it holds the absolute path, as the library writes
// it.
type experimentEntry struct {
	NumTargets      int    `json:"num_targets"`
	ScoresPath      string `json:"scores_path"`
	ScoresFinalized int    `json:"scores_finalized"`
}

// ExperimentsJSON returns the content of experiments.json for scored
// experiments with the given numbers of targets, in the exported directory
// dir (absolute).
func ExperimentsJSON(dir string, numTargets map[string]int) []byte {
	m := map[string]experimentEntry{}
	for name, t := range numTargets {
		m[name] = experimentEntry{NumTargets: t, ScoresPath: filepath.Join(dir, scoresName(name)), ScoresFinalized: 1}
	}
	data, _ := json.Marshal(m) // cannot fail
	return data
}

// FeaturizedFlags maps trak's row flags (0 pending, 1 done, 2 skipped bad
// example) onto the library's, which has no "skipped": a skipped row has
// zero features and Q, so it is as finished as a computed one and becomes
// 1, which also keeps the library from featurizing it again with its own
// projection. A pending row is an error: the library would fill it with
// features trak's projection did not make. It returns the number of
// skipped rows.
func FeaturizedFlags(dst []int32, src []uint8) (skipped int, err error) {
	if len(dst) != len(src) {
		return 0, fmt.Errorf("flags: %d rows in, %d out", len(src), len(dst))
	}
	for i, f := range src {
		switch f {
		case 1:
		case 2:
			skipped++
		default:
			return 0, &PendingError{Row: i, Flag: f}
		}
		dst[i] = 1
	}
	return skipped, nil
}

// PendingError reports a train row that is not featurized (or a flag value
// trak never writes).
type PendingError struct {
	Row  int
	Flag uint8
}

func (e *PendingError) Error() string {
	if e.Flag == 0 {
		return fmt.Sprintf("row %d is not featurized", e.Row)
	}
	return fmt.Sprintf("row %d has flag %d, which trak never writes", e.Row, e.Flag)
}

// ParseDType reads the --dtype values: the library stores every float
// array in float16 (use_half_precision=True, its default) or float32.
func ParseDType(s string) (npy.DType, error) {
	switch s {
	case "float32":
		return npy.Float32, nil
	case "float16":
		return npy.Float16, nil
	}
	return 0, fmt.Errorf("dtype %q: want float32 or float16", s)
}

// dtypeName names a float dtype as the store and the flags do.
func dtypeName(d npy.DType) string {
	if d == npy.Float16 {
		return "float16"
	}
	return "float32"
}
