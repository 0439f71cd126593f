package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any config file content gives a Config or an error, never a
// panic, and an accepted Config passes validation.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"save_dir: s\nprojector:\n  dim: 3\n",
		"projector: x\n",
		"lambda: .nan\n",
		"batch_size: 1e99\n",
		"- a\n- b\n",
		"save_dir: [1, 2]\n",
		"projector:\n  dim: {a: 1}\n",
		"exp: \"a/b\"\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Sources{File: path})
		if err != nil {
			return
		}
		if c.BatchSize < 1 || c.Projector.Dim < 1 || c.Lambda < 0 || c.Workers < 0 {
			t.Errorf("accepted an invalid config: %+v", c)
		}
	})
}
