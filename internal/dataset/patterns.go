package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxExpansion bounds how many paths one brace pattern may expand to.
const maxExpansion = 1_000_000

// expandShards turns shard patterns into the sorted, de-duplicated list of
// shard files. Each pattern is brace-expanded ("{0000..0099}", "{a,b}"),
// then each result is globbed when it holds "*", "?" or "[". A literal path
// must exist and a glob must match at least one file. A pattern naming an
// existing file is taken literally.
func expandShards(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, errors.New("no shard paths given")
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			out = append(out, p)
		}
	}
	for _, pat := range patterns {
		if pat == "" {
			continue
		}
		if fi, err := os.Stat(pat); err == nil && fi.Mode().IsRegular() {
			add(pat) // an existing file is taken as named, even with "{", "*" or "[" in its name
			continue
		}
		expanded, err := expandBraces(pat)
		if err != nil {
			return nil, err
		}
		for _, p := range expanded {
			if !strings.ContainsAny(p, "*?[") {
				fi, err := os.Stat(p)
				if err != nil {
					return nil, fmt.Errorf("shard %s (from %q): %w", p, pat, err)
				}
				if fi.IsDir() {
					return nil, fmt.Errorf("shard %s (from %q) is a directory", p, pat)
				}
				add(p)
				continue
			}
			matches, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("shard pattern %q: %w", p, err)
			}
			n := 0
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
					add(m)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("no shard file matches %q", p)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no shard paths given")
	}
	slices.SortFunc(out, naturalCompare)
	return out, nil
}

// expandBraces expands brace groups as shells and webdataset users write
// them: "{a,b,c}" alternatives and "{00..10}" integer ranges, zero-padded to
// the wider endpoint when either endpoint has a leading zero. Groups nest. A
// brace group that is neither (no comma, not a range) is kept literally.
func expandBraces(pattern string) ([]string, error) {
	var out []string
	var expand func(p string, from int) error
	expand = func(p string, from int) error {
		open, close := -1, -1
		for i := from; i < len(p); i++ {
			if p[i] != '{' {
				continue
			}
			if c := matchingBrace(p, i); c > 0 {
				inner := p[i+1 : c]
				if len(splitTopLevel(inner)) > 1 || isRange(inner) {
					open, close = i, c
					break
				}
			}
		}
		if open < 0 {
			if len(out) >= maxExpansion {
				return fmt.Errorf("pattern %q expands to more than %d paths", pattern, maxExpansion)
			}
			out = append(out, p)
			return nil
		}
		inner := p[open+1 : close]
		alts := splitTopLevel(inner)
		if len(alts) == 1 {
			var err error
			if alts, err = rangeItems(inner); err != nil {
				return fmt.Errorf("pattern %q: %w", pattern, err)
			}
		}
		for _, a := range alts {
			if err := expand(p[:open]+a+p[close+1:], open); err != nil {
				return err
			}
		}
		return nil
	}
	if err := expand(pattern, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// matchingBrace returns the index of the '}' closing the '{' at open, or
// -1.
func matchingBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitTopLevel splits s at the commas outside nested braces.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// rangeEnds splits "A..B" into its integer endpoints.
func rangeEnds(s string) (a, b string, ok bool) {
	a, b, ok = strings.Cut(s, "..")
	if !ok || !isInt(a) || !isInt(b) {
		return "", "", false
	}
	return a, b, true
}

func isRange(s string) bool {
	_, _, ok := rangeEnds(s)
	return ok
}

func isInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rangeItems lists the integers of "A..B", A to B inclusive in either
// direction.
func rangeItems(s string) ([]string, error) {
	a, b, ok := rangeEnds(s)
	if !ok {
		return nil, fmt.Errorf("bad range %q", s)
	}
	lo, _ := strconv.ParseInt(a, 10, 64)
	hi, _ := strconv.ParseInt(b, 10, 64)
	step := int64(1)
	if hi < lo {
		step = -1
	}
	if n := (hi-lo)*step + 1; n > maxExpansion {
		return nil, fmt.Errorf("range {%s} has %d items, more than %d", s, n, maxExpansion)
	}
	width := 0
	padded := func(e string) bool { e = strings.TrimPrefix(e, "-"); return len(e) > 1 && e[0] == '0' }
	if padded(a) || padded(b) {
		width = max(len(a), len(b))
	}
	var out []string
	for v := lo; ; v += step {
		out = append(out, fmt.Sprintf("%0*d", width, v))
		if v == hi {
			break
		}
	}
	return out, nil
}

// naturalCompare orders names with runs of digits compared as numbers
// ("9" < "10"), falling back to byte order for names that compare equal so
// ("01" and "1").
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				if len(na) < len(nb) {
					return -1
				}
				return 1
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch {
	case len(a)-i < len(b)-j:
		return -1
	case len(a)-i > len(b)-j:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
