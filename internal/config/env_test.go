package config

import (
	"strings"
	"testing"
)

// TestOtherEnvAccepted: the TRAK_* variables that are not config keys (the
// hand-off marker, trak-cuda's cuBLAS path, the test hook) load, while a
// misspelt one is still an unknown key.
func TestOtherEnvAccepted(t *testing.T) {
	for _, e := range OtherEnv() {
		t.Setenv(e.Name, "1")
	}
	if _, err := Load(Sources{}); err != nil {
		t.Fatalf("TRAK_* variables that are not keys are rejected: %v", err)
	}
	t.Setenv("TRAK_HANDOF", "1")
	_, err := Load(Sources{})
	if err == nil || !strings.Contains(err.Error(), "unknown environment variable TRAK_HANDOF") {
		t.Fatalf("err = %v, want TRAK_HANDOF reported as unknown", err)
	}
}

// TestOtherEnvDistinct keeps the list documented and apart from the keys.
func TestOtherEnvDistinct(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range Keys {
		keys[EnvName(k.Name)] = true
	}
	seen := map[string]bool{}
	for _, e := range OtherEnv() {
		switch {
		case !strings.HasPrefix(e.Name, EnvPrefix+"_"):
			t.Errorf("%s does not start with %s_", e.Name, EnvPrefix)
		case keys[e.Name]:
			t.Errorf("%s is also the variable of a config key", e.Name)
		case seen[e.Name]:
			t.Errorf("%s listed twice", e.Name)
		case e.Doc == "":
			t.Errorf("%s has no doc", e.Name)
		}
		seen[e.Name] = true
	}
}
