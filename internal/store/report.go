package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// appendReport adds "row<TAB>reason" lines to the report at path. Several
// shard processes may skip rows at once, so the read-modify-write happens
// under a lock; the file itself is replaced atomically.
func appendReport(path string, rows []int, reasons []string) error {
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var b bytes.Buffer
	b.Write(old)
	for i, row := range rows {
		reason := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(reasons[i])
		b.WriteString(strconv.Itoa(row))
		b.WriteByte('\t')
		b.WriteString(reason)
		b.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}
