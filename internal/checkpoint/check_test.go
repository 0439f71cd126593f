package checkpoint

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.safetensors")
	err := WriteSafetensors(path, []NamedTensor{
		{Name: "logit_scale", Shape: []int{}, Data: []float32{1}},
		{Name: "visual.proj", Shape: []int{4, 2}, Data: make([]float32, 8)},
		{Name: "ln_final.weight", Shape: []int{4}, Data: make([]float32, 4)},
		{Name: "extra.b", Shape: []int{1}, Data: make([]float32, 1)},
		{Name: "extra.a", Shape: []int{2, 1}, Data: make([]float32, 2)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	exact := []Expect{{"logit_scale", []int{}}, {"visual.proj", []int{4, 2}}, {"ln_final.weight", []int{4}},
		{"extra.a", []int{2, 1}}, {"extra.b", []int{1}}}
	if err := Check(f, exact); err != nil {
		t.Errorf("Check(exact) = %v", err)
	}
	// A nil shape and an empty one both mean a scalar.
	if err := Check(f, append(exact[1:], Expect{"logit_scale", nil})); err != nil {
		t.Errorf("Check(nil scalar shape) = %v", err)
	}

	want := []Expect{
		{"positional_embedding", []int{3, 4}},
		{"logit_scale", []int{1}},
		{"visual.proj", []int{4, 2}},
		{"ln_final.weight", []int{5}},
		{"text_projection", []int{4, 2}},
		{"visual.proj", []int{4, 2}}, // listed twice: counted once
	}
	err = Check(f, want)
	var m *MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("Check = %v, want a *MismatchError", err)
	}
	if m.Path != path {
		t.Errorf("Path = %q", m.Path)
	}
	names := func(es []Expect) (out []string) {
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	if got := names(m.Missing); !slices.Equal(got, []string{"positional_embedding", "text_projection"}) {
		t.Errorf("Missing = %q", got)
	}
	if got := names(m.Unexpected); !slices.Equal(got, []string{"extra.a", "extra.b"}) {
		t.Errorf("Unexpected = %q", got)
	}
	if len(m.Misshaped) != 2 || m.Misshaped[0].Name != "logit_scale" || m.Misshaped[1].Name != "ln_final.weight" ||
		!slices.Equal(m.Misshaped[1].Shape, []int{4}) || !slices.Equal(m.Misshaped[1].Want, []int{5}) {
		t.Errorf("Misshaped = %+v", m.Misshaped)
	}
	msg := err.Error()
	for _, part := range []string{
		path, "2 missing, 2 unexpected, 2 with the wrong shape",
		"missing:    positional_embedding (3, 4)",
		"missing:    text_projection (4, 2)",
		"unexpected: extra.a (2, 1)",
		"unexpected: extra.b (1,)",
		"wrong shape: logit_scale is (), want (1,)",
		"wrong shape: ln_final.weight is (4,), want (5,)",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("error does not mention %q:\n%s", part, msg)
		}
	}
	if strings.Contains(msg, "visual.proj") {
		t.Errorf("error mentions a matching tensor:\n%s", msg)
	}
}

func TestFormatShape(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		want  string
	}{{nil, "()"}, {[]int{5}, "(5,)"}, {[]int{768, 512}, "(768, 512)"}, {[]int{8, 3, 2, 2}, "(8, 3, 2, 2)"}} {
		if got := FormatShape(tc.shape); got != tc.want {
			t.Errorf("FormatShape(%v) = %q, want %q", tc.shape, got, tc.want)
		}
	}
}
