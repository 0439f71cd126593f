package cpu

import (
	"testing"

	"github.com/trak-dev/trak/internal/backend"
)

func TestParseMemInfo(t *testing.T) {
	const text = `MemTotal:       24576000 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
Buffers:          100 kB
`
	if got := parseMemInfo([]byte(text)); got != (backend.MemInfo{Free: 20000000 * 1024, Total: 24576000 * 1024}) {
		t.Errorf("parseMemInfo = %+v", got)
	}
	old := "MemTotal: 2048 kB\nMemFree: 1024 kB\n"
	if got := parseMemInfo([]byte(old)); got != (backend.MemInfo{Free: 1024 * 1024, Total: 2048 * 1024}) {
		t.Errorf("parseMemInfo without MemAvailable = %+v", got)
	}
	if m := New(1).MemInfo(); m.Total == 0 || m.Free > m.Total {
		t.Errorf("MemInfo() = %+v", m)
	}
}
