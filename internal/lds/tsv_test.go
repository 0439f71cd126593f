package lds

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestWriteTSV(t *testing.T) {
	r := Result{PerTarget: []float64{0.5, math.NaN(), -0.125}}
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"without names", nil, "target\tlds\n0\t0.5\n1\tNaN\n2\t-0.125\n"},
		{"with names", []string{"a", "b c", "d"}, "target\tname\tlds\n0\ta\t0.5\n1\tb c\tNaN\n2\td\t-0.125\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteTSV(&b, r, tc.names); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTSVErrors(t *testing.T) {
	r := Result{PerTarget: []float64{0.5, 0.25}}
	var b strings.Builder
	if err := WriteTSV(&b, r, []string{"only one"}); err == nil {
		t.Error("one name for two targets: no error")
	}
	if err := WriteTSV(&b, r, []string{"a\tb", "c"}); err == nil {
		t.Error("name with a tab: no error")
	}
	if err := WriteTSV(failingWriter{}, r, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing writer: error %v, want one wrapping it", err)
	}
}
