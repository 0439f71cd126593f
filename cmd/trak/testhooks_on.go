//go:build trak_testhooks

package main

import (
	"fmt"
	"os"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/sysinfo"
)

// fakeDriver is the driver line the test hook reports.
const fakeDriver = "NVRM version: faked by " + config.EnvTestNVIDIA + " (test build)"

// fakeNVIDIA lets the end-to-end tests run the --device hand-off on
// machines without a GPU: with TRAK_TEST_NVIDIA set to none, driver (a
// driver but no device) or gpu (a driver and /dev/nvidia0), a binary built
// with -tags trak_testhooks reports that instead of reading /proc and /dev.
// Only test builds contain this file (testhooks_off.go is the release
// build's), so the variable cannot change what a real trak detects.
func fakeNVIDIA() (sysinfo.NVIDIA, bool, error) {
	v, ok := os.LookupEnv(config.EnvTestNVIDIA)
	if !ok {
		return sysinfo.NVIDIA{}, false, nil
	}
	switch v {
	case "none":
		return sysinfo.NVIDIA{}, true, nil
	case "driver":
		return sysinfo.NVIDIA{Driver: fakeDriver}, true, nil
	case "gpu":
		return sysinfo.NVIDIA{Driver: fakeDriver, Devices: []string{"/dev/nvidia0"}}, true, nil
	}
	return sysinfo.NVIDIA{}, true, fmt.Errorf("%s=%q: want none, driver or gpu", config.EnvTestNVIDIA, v)
}
