// Package testutil holds helpers for tests only; no production code imports
// it.
package testutil

import (
	"strings"
	"testing"
)

// WantErr fails t unless err is non-nil and its message contains every one
// of substrings. A nil err stops the test at once; a missing substring is
// reported and the test goes on, so that one run names every one missing.
func WantErr(t testing.TB, err error, substrings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substrings)
	}
	for _, s := range substrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}
