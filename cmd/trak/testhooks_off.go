//go:build !trak_testhooks

package main

import "github.com/trak-dev/trak/internal/sysinfo"

// fakeNVIDIA is the test hook of testhooks_on.go; release builds have none,
// so no environment can change what they detect.
func fakeNVIDIA() (sysinfo.NVIDIA, bool, error) { return sysinfo.NVIDIA{}, false, nil }
