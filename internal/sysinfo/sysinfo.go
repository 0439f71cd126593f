// Package sysinfo describes the machine trak runs on, for `trak doctor`:
// the CPU and its vector extensions, cores, memory, and whether an NVIDIA
// driver is present. It only reads files and never fails: what it cannot
// find is reported as unknown.
package sysinfo

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// CPU describes the processor.
type CPU struct {
	Model      string
	Extensions []string // vector extensions trak's kernels can use, as the OS reports them
	Cores      int      // logical CPUs
}

// Memory describes main memory in bytes.
type Memory struct{ Total, Available uint64 }

// NVIDIA describes the driver, if one is loaded.
type NVIDIA struct {
	Driver  string // the driver's version line, "" if none is loaded
	Devices []string
}

// ReadCPU reads /proc/cpuinfo where it exists.
func ReadCPU() CPU {
	c := CPU{Model: runtime.GOARCH, Cores: runtime.NumCPU()}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return c
	}
	defer f.Close()
	want := []string{"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "amx_tile", "asimd", "sve"}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name":
			c.Model = val
		case "flags", "Features":
			if c.Extensions != nil {
				continue
			}
			have := map[string]bool{}
			for _, f := range strings.Fields(val) {
				have[f] = true
			}
			c.Extensions = []string{}
			for _, w := range want {
				if have[w] {
					c.Extensions = append(c.Extensions, w)
				}
			}
		}
	}
	return c
}

// ReadMemory reads /proc/meminfo where it exists.
func ReadMemory() Memory {
	var m Memory
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			m.Total = kb * 1024
		case "MemAvailable:":
			m.Available = kb * 1024
		}
	}
	return m
}

// ReadNVIDIA reports the loaded NVIDIA driver and device nodes.
func ReadNVIDIA() NVIDIA {
	var n NVIDIA
	if b, err := os.ReadFile("/proc/driver/nvidia/version"); err == nil {
		n.Driver = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	entries, _ := os.ReadDir("/dev")
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "nvidia") && len(name) > 6 && name[6] >= '0' && name[6] <= '9' {
			n.Devices = append(n.Devices, "/dev/"+name)
		}
	}
	return n
}
