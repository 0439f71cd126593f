package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/gpu"
	"github.com/trak-dev/trak/internal/sysinfo"
)

func newCmdDoctor(io *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Describe the machine and the compute devices trak can use",
		Long: heredoc(`
			Print what trak will compute with: the CPU model and its vector
			extensions, the BLAS in use, cores and memory; and for NVIDIA GPUs, whether
			a driver and devices are present and whether trak-cuda (the -tags cuda
			build, which --device cuda runs) is installed. When trak-cuda is found and
			a GPU is present, its own doctor report follows.
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cpu, mem, nv := sysinfo.ReadCPU(), sysinfo.ReadMemory(), sysinfo.ReadNVIDIA()
			w := tabwriter.NewWriter(io.Out, 0, 8, 2, ' ', 0)
			fmt.Fprintf(w, "trak\t%s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "cpu\t%s\n", cpu.Model)
			ext := "none detected"
			if len(cpu.Extensions) > 0 {
				ext = strings.Join(cpu.Extensions, " ")
			}
			fmt.Fprintf(w, "vector extensions\t%s\n", ext)
			fmt.Fprintf(w, "cores\t%d logical, GOMAXPROCS %d\n", cpu.Cores, runtime.GOMAXPROCS(0))
			if mem.Total > 0 {
				fmt.Fprintf(w, "memory\t%.1f GB total, %.1f GB available\n", float64(mem.Total)/1e9, float64(mem.Available)/1e9)
			}
			fmt.Fprintf(w, "blas\tgonum pure Go (blas32/blas64; a cgo BLAS can be plugged in)\n")
			fmt.Fprintf(w, "cuda in this binary\t%t\n", gpu.Built())
			driver := nv.Driver
			if driver == "" {
				driver = "none loaded"
			}
			fmt.Fprintf(w, "nvidia driver\t%s\n", driver)
			if len(nv.Devices) > 0 {
				fmt.Fprintf(w, "nvidia devices\t%s\n", strings.Join(nv.Devices, " "))
			}
			bin, err := findCUDABinary()
			if err != nil {
				fmt.Fprintf(w, "trak-cuda\tnot found (next to trak or on PATH)\n")
			} else {
				fmt.Fprintf(w, "trak-cuda\t%s\n", bin)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if gpu.Built() {
				fmt.Fprintln(io.Out, "\n--- CUDA self-test")
				return gpu.Doctor(io.Out)
			}
			if err == nil && bin != "" && nv.Driver != "" && !gpu.Built() {
				fmt.Fprintln(io.Out, "\n--- trak-cuda doctor")
				c := exec.Command(bin, "doctor")
				c.Stdout, c.Stderr = io.Out, io.ErrOut
				return c.Run()
			}
			return nil
		},
	}
}
