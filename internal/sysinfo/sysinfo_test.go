package sysinfo

import (
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	c := ReadCPU()
	if c.Cores != runtime.NumCPU() || c.Model == "" {
		t.Errorf("cpu %+v", c)
	}
	if runtime.GOOS == "linux" {
		m := ReadMemory()
		if m.Total == 0 || m.Available > m.Total {
			t.Errorf("memory %+v", m)
		}
		if c.Extensions == nil {
			t.Error("no CPU flags read from /proc/cpuinfo")
		}
	}
	_ = ReadNVIDIA() // none here; must not fail
}
