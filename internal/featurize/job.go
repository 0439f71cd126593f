package featurize

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
)

// ProjectorSpec is the projection part of a run's configuration.
type ProjectorSpec struct {
	Kind projection.Kind
	Dim  int // ignored for projection.None, whose dimension is p
	Seed int64
	S    int // non-zeros per row for projection.SJLT (0: the default); the other kinds ignore it
}

// NewProjector returns the projection of model id for a model of p
// parameters.
func (s ProjectorSpec) NewProjector(modelID int, p int64, workers int) (*projection.Projector, error) {
	return projection.New(projection.Spec{Kind: s.Kind, Dim: s.Dim, NonZeros: s.S, Seed: s.Seed, ModelID: modelID, NumParams: p}, workers)
}

// TrainJob describes the featurization of one checkpoint's train set.
type TrainJob struct {
	SaveDir    string
	ModelID    int
	Checkpoint string // path, recorded with its Digest
	// Digest returns the identity (a hex SHA-256) of the checkpoint at a
	// path; nil means FileSHA256. CLIP sets it to hash a model folder's
	// weights file.
	Digest   func(path string) (string, error)
	Examples Examples
	// Task, ConfigHash and DataFingerprint go into the store's metadata, so
	// that a store is never filled with features of another model or data set.
	Task, ConfigHash, DataFingerprint string
	DataPath                          string
	DataColumns                       map[string]string
	// ImageTransform describes how images become model inputs (CLIP;
	// imageprep.Transform.String), recorded and checked like ConfigHash.
	ImageTransform string
	// CLIP holds the CLIP settings that change features (recorded and
	// checked like ConfigHash); zero for other tasks.
	CLIP               store.CLIPSettings
	Projector          ProjectorSpec
	FeaturesDType      string
	BatchSize, Workers int
	Shard              Shard
	// Progress reports each step of the job (featurize, and a task's own
	// steps in Before); nil reports nothing.
	Progress    progress.Func
	OnBad       OnBadExample
	ToolVersion string
	// Before, when set, runs after the store is opened and the checkpoint
	// registered, and returns the Examples to featurize (Examples itself
	// then only gives the sizes for the store's metadata). CLIP computes its
	// embedding table here.
	Before func(ctx context.Context, st *store.Store) (Examples, error)
}

// TrainSummary reports what a TrainJob did.
type TrainSummary struct {
	Result
	// Complete is true when every row of the checkpoint is featurized (by
	// this process or by other shards).
	Complete bool
}

// Train featurizes the shard's rows of the train set for one checkpoint.
func Train(ctx context.Context, job TrainJob) (TrainSummary, error) {
	if err := RequireRows("train data", job.DataPath, job.Examples.Len()); err != nil {
		return TrainSummary{}, err
	}
	p := job.Examples.NumParams()
	proj, err := job.Projector.NewProjector(job.ModelID, p, job.Workers)
	if err != nil {
		return TrainSummary{}, err
	}
	st, err := store.Create(job.SaveDir, store.Metadata{
		ToolVersion:      job.ToolVersion,
		Task:             job.Task,
		ModelConfigHash:  job.ConfigHash,
		NumParams:        p,
		TrainSize:        job.Examples.Len(),
		TrainFingerprint: job.DataFingerprint,
		TrainData:        job.DataPath,
		DataColumns:      job.DataColumns,
		ImageTransform:   job.ImageTransform,
		Projector:        string(job.Projector.Kind),
		K:                proj.Dim(),
		S:                proj.NonZeros(),
		Seed:             job.Projector.Seed,
		FeaturesDType:    job.FeaturesDType,
		CLIPSettings:     job.CLIP,
	})
	if err != nil {
		return TrainSummary{}, err
	}
	digest := job.Digest
	if digest == nil {
		digest = FileSHA256
	}
	sum, err := digest(job.Checkpoint)
	if err != nil {
		return TrainSummary{}, err
	}
	abs, err := filepath.Abs(job.Checkpoint)
	if err != nil {
		return TrainSummary{}, err
	}
	meta, err := st.AddModel(job.ModelID, abs, sum)
	if err != nil {
		return TrainSummary{}, err
	}
	ex := job.Examples
	if job.Before != nil {
		if ex, err = job.Before(ctx, st); err != nil {
			return TrainSummary{}, nameCheckpoint(err, job.Checkpoint)
		}
	}
	rows, err := st.TrainRows(job.ModelID)
	if err != nil {
		return TrainSummary{}, err
	}
	defer rows.Close()
	desc := fmt.Sprintf("featurize model %d", job.ModelID)
	if job.Shard.Count > 0 {
		desc += " shard " + job.Shard.String()
	}
	res, err := Run(ctx, ex, rows, Options{Projector: proj, BatchSize: job.BatchSize, Shard: job.Shard, Progress: job.Progress, Desc: desc, OnBad: job.OnBad})
	out := TrainSummary{Result: res}
	if err != nil {
		return out, nameCheckpoint(err, job.Checkpoint)
	}
	out.Complete = res.Remaining == 0
	if out.Complete && !meta.Featurized {
		meta.Featurized = true
		if err := st.SetModelMeta(meta); err != nil {
			return out, err
		}
	}
	return out, nil
}

// RequireRows fails, naming the data set, when it has no rows: a train set
// or targets file with a header and nothing else would otherwise make a
// store or an experiment of zero rows, and scores of nothing, without a
// word about the file.
func RequireRows(what, path string, n int) error {
	if n > 0 {
		return nil
	}
	return fmt.Errorf("%s %s has no rows: at least one example is needed; check that the file holds examples, not only a header", what, path)
}

// FileSHA256 returns the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// nameCheckpoint adds the checkpoint to an error about computed values,
// which come from its weights.
func nameCheckpoint(err error, checkpoint string) error {
	var nf *NonFiniteError
	if errors.As(err, &nf) {
		return fmt.Errorf("checkpoint %s: %w", checkpoint, err)
	}
	return err
}
