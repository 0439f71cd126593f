package lds

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteTSV writes the LDS of each target as tab-separated values: a header
// line, then one line per target with its index, its name when names is not
// nil, and its LDS (NaN where undefined), in the shortest decimal form that
// reads back to the same float64. names, when given, must have one entry per
// target and no tab or line break.
func WriteTSV(w io.Writer, r Result, names []string) error {
	if names != nil && len(names) != len(r.PerTarget) {
		return fmt.Errorf("write LDS table: %d names for %d targets", len(names), len(r.PerTarget))
	}
	for t, s := range names {
		if strings.ContainsAny(s, "\t\r\n") {
			return fmt.Errorf("write LDS table: name of target %d (%q) holds a tab or line break", t, s)
		}
	}
	bw := bufio.NewWriter(w)
	if names != nil {
		bw.WriteString("target\tname\tlds\n")
	} else {
		bw.WriteString("target\tlds\n")
	}
	for t, v := range r.PerTarget {
		bw.WriteString(strconv.Itoa(t))
		if names != nil {
			bw.WriteByte('\t')
			bw.WriteString(names[t])
		}
		bw.WriteByte('\t')
		bw.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write LDS table: %w", err)
	}
	return nil
}
