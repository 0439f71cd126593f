package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// settingsKey is the key of metadata.json that holds the checksum of the
// file's other keys. The settings in metadata.json decide what every array
// means (the seed gives the projections, k their size, …), and nothing
// rewrites the file after the store is made, so an edit would silently give
// wrong scores: the checksum turns it into an error.
const settingsKey = "settings_sha256"

// encodeMetadata returns the bytes of metadata.json for m: its fields, then
// their checksum.
func encodeMetadata(m Metadata) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum, _, err := settingsChecksum(plain)
	if err != nil {
		return nil, err
	}
	// Embedding keeps Metadata's fields flat and in their order, whatever
	// fields it gains.
	data, err := json.MarshalIndent(struct {
		Metadata
		SettingsSHA256 string `json:"settings_sha256"`
	}{m, sum}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// settingsChecksum returns the SHA-256 of raw's keys other than
// settings_sha256, in a canonical form (keys sorted, no spaces, numbers as
// written), and the checksum raw records ("" if none). The sum covers what
// the file holds, not what the Metadata type knows, so a store written by
// an older or newer trak checks the same.
func settingsChecksum(raw []byte) (sum, recorded string, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return "", "", err
	}
	if v, ok := m[settingsKey]; ok {
		s, ok := v.(string)
		if !ok {
			return "", "", fmt.Errorf("%s is not a string", settingsKey)
		}
		recorded = s
		delete(m, settingsKey)
	}
	canon, err := json.Marshal(m)
	if err != nil {
		return "", "", err
	}
	h := sha256.Sum256(canon)
	return "sha256:" + hex.EncodeToString(h[:]), recorded, nil
}

// checkSettings verifies the checksum of metadata.json's content raw. A
// store made before the checksum was recorded has none and is not checked.
func checkSettings(path string, raw []byte) error {
	sum, recorded, err := settingsChecksum(raw)
	if err != nil {
		return fmt.Errorf("open store: %s is corrupt (%v); move the store aside and featurize again", path, err)
	}
	if recorded != "" && recorded != sum {
		return fmt.Errorf("%s was edited after the store was made: its settings no longer match their checksum (%s), so they may not be the settings its arrays were computed with; restore the original file, or featurize into a new save_dir",
			path, settingsKey)
	}
	return nil
}

// removeStaleTemps removes the temporary files that killed processes left
// in the store (atomicfile.RemoveStale: files a live process is writing
// stay), so that an interrupted run leaves no orphan behind once the store
// is next opened. It is best effort: a store that cannot be written (a
// read-only copy that `trak top` reads) opens all the same.
func removeStaleTemps(dir string) {
	dirs := []string{dir, filepath.Join(dir, "scores")}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && id >= 0 {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	for _, d := range dirs {
		atomicfile.RemoveStale(d)
	}
}
