package main

import (
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/featurize"
)

func TestNewCmdEvalLDS(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*testing.T, *EvalLDSOptions)
	}{
		{name: "defaults", args: []string{"--save-dir", "s", "--exp", "val"}, check: func(t *testing.T, o *EvalLDSOptions) {
			l := o.Config.LDS
			if l.Subsets != 32 || l.ModelsPerSubset != 1 || l.Alpha != 0.5 || l.Epochs != 10 || l.Dir != "" || o.Shard != (featurize.Shard{}) {
				t.Errorf("defaults: %+v, shard %v", l, o.Shard)
			}
		}},
		{name: "recipe and shard", args: []string{"--save-dir", "s", "--exp", "val", "--lds-subsets", "8", "--lds-alpha", "0.3", "--lds-lr", "2e-3", "--lds-dir", "d", "--shard", "1/4"}, check: func(t *testing.T, o *EvalLDSOptions) {
			l := o.Config.LDS
			if l.Subsets != 8 || l.Alpha != 0.3 || l.LR != 2e-3 || l.Dir != "d" || o.Shard != (featurize.Shard{Index: 1, Count: 4}) {
				t.Errorf("parsed %+v, shard %v", l, o.Shard)
			}
		}},
		{name: "models per subset", args: []string{"--save-dir", "s", "--exp", "val", "--lds-models-per-subset", "4"}, check: func(t *testing.T, o *EvalLDSOptions) {
			if o.Config.LDS.ModelsPerSubset != 4 {
				t.Errorf("models per subset %d, want 4", o.Config.LDS.ModelsPerSubset)
			}
		}},
		{name: "no models per subset", args: []string{"--save-dir", "s", "--exp", "val", "--lds-models-per-subset", "0"}, wantErr: "lds.models_per_subset"},
		{name: "no exp", args: []string{"--save-dir", "s"}, wantErr: "exp is not set"},
		{name: "alpha out of range", args: []string{"--save-dir", "s", "--exp", "val", "--lds-alpha", "1"}, wantErr: "lds.alpha"},
		{name: "one subset too few", args: []string{"--save-dir", "s", "--exp", "val", "--lds-subsets", "0"}, wantErr: "lds.subsets"},
		{name: "bad shard", args: []string{"--save-dir", "s", "--exp", "val", "--shard", "4/4"}, wantErr: "shard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseOptions(t, newCmdEvalLDS, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}
