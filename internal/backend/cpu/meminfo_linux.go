package cpu

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"github.com/trak-dev/trak/internal/backend"
)

// memInfo reads MemAvailable (MemFree on kernels before 3.14) and MemTotal
// from /proc/meminfo, which gives them in KiB.
func memInfo() backend.MemInfo {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return backend.MemInfo{}
	}
	return parseMemInfo(raw)
}

// parseMemInfo extracts the fields memInfo needs from /proc/meminfo's text.
func parseMemInfo(raw []byte) backend.MemInfo {
	var total, avail, free uint64
	var haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		if len(f) >= 3 && string(f[2]) == "kB" {
			v *= 1024
		}
		switch string(f[0]) {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			avail, haveAvail = v, true
		case "MemFree:":
			free = v
		}
	}
	if !haveAvail {
		avail = free
	}
	return backend.MemInfo{Free: avail, Total: total}
}
