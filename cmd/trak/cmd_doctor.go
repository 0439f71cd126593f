package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/gemm"
	"github.com/trak-dev/trak/internal/gpu"
	"github.com/trak-dev/trak/internal/sysinfo"
)

// doctorReport is `trak doctor --format json`; the text form prints the
// same facts as a table.
type doctorReport struct {
	versionInfo
	CPU struct {
		Model        string   `json:"model"`
		Extensions   []string `json:"extensions"`
		LogicalCores int      `json:"logical_cores"`
		GOMAXPROCS   int      `json:"gomaxprocs"`
	} `json:"cpu"`
	Memory struct {
		TotalBytes     uint64 `json:"total_bytes"` // 0: unknown
		AvailableBytes uint64 `json:"available_bytes"`
	} `json:"memory"`
	BLAS string `json:"blas"`
	GEMM struct {
		Kernel    string   `json:"kernel"`    // what featurize, score and train run
		Available []string `json:"available"` // what this CPU runs, fastest first
	} `json:"gemm"`
	NVIDIA struct {
		Driver  string   `json:"driver"` // "": none loaded
		Devices []string `json:"devices"`
	} `json:"nvidia"`
	TrakCUDA struct {
		Path string `json:"path"` // "": not found
		// Doctor is `trak-cuda doctor --format json`, run when a driver is
		// loaded and this binary is not trak-cuda itself.
		Doctor json.RawMessage `json:"doctor,omitempty"`
	} `json:"trak_cuda"`
	// CUDASelfTest is the GPU self-test's report, in trak-cuda only.
	CUDASelfTest string `json:"cuda_self_test,omitempty"`
}

// blasName describes the matrix products: trak's own (internal/gemm) for
// the model and the projection, gonum's blas64 for finalize's float64 solve.
const blasName = "trak's float32 GEMM (Go assembly, no cgo) for the model and projection; gonum blas64 and lapack64 for finalize and score (float64)"

func newCmdDoctor(io *IOStreams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "doctor [--format text|json]",
		Short: "Describe the machine and the compute devices trak can use",
		Long: heredoc(`
			Print what trak will compute with: the CPU model and its vector
			extensions, the BLAS in use, cores and memory; and for NVIDIA GPUs, whether
			a driver and devices are present and whether trak-cuda (the -tags cuda
			build, which --device cuda runs) is installed. When trak-cuda is found and
			a GPU is present, its own doctor report follows.
		`),
		Example: examples(`
			$ trak doctor
			$ trak doctor --format json | jq .nvidia
		`),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return doctorRun(io, format)
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func doctorRun(streams *IOStreams, format string) error {
	var r doctorReport
	r.versionInfo = currentVersion()
	cpu, mem := sysinfo.ReadCPU(), sysinfo.ReadMemory()
	r.CPU.Model, r.CPU.Extensions, r.CPU.LogicalCores, r.CPU.GOMAXPROCS = cpu.Model, cpu.Extensions, cpu.Cores, runtime.GOMAXPROCS(0)
	if r.CPU.Extensions == nil {
		r.CPU.Extensions = []string{}
	}
	r.Memory.TotalBytes, r.Memory.AvailableBytes = mem.Total, mem.Available
	r.BLAS = blasName
	for _, k := range gemm.Available() {
		r.GEMM.Available = append(r.GEMM.Available, string(k))
	}
	kernel, forced, err := gemmKernel()
	if err != nil {
		return err
	}
	r.GEMM.Kernel = string(kernel)
	if forced {
		r.GEMM.Kernel += " (" + config.EnvGemmKernel + ")"
	}
	nv, err := readNVIDIA()
	if err != nil {
		return err
	}
	r.NVIDIA.Driver, r.NVIDIA.Devices = nv.Driver, nv.Devices
	if r.NVIDIA.Devices == nil {
		r.NVIDIA.Devices = []string{}
	}
	if bin, err := findCUDABinary(); err == nil {
		r.TrakCUDA.Path = bin
	}
	// Run trak-cuda's own report where it can say something, but never from a
	// process that trak-cuda (or a hand-off) started, which would recurse
	// when a CPU build is installed under the name trak-cuda.
	runCUDA := r.TrakCUDA.Path != "" && nv.Driver != "" && !gpu.Built() && os.Getenv(config.EnvHandoff) == ""

	if format == formatJSON {
		var runErr error
		if gpu.Built() {
			var b bytes.Buffer
			runErr = gpu.Doctor(&b)
			r.CUDASelfTest = b.String()
		}
		if runCUDA {
			var b bytes.Buffer
			runErr = runCUDADoctor(streams, r.TrakCUDA.Path, &b, "--format", formatJSON)
			if runErr == nil && !json.Valid(b.Bytes()) {
				runErr = fmt.Errorf("%s doctor --format json printed no JSON document: install a trak-cuda of the same version as trak", r.TrakCUDA.Path)
			}
			if runErr == nil {
				r.TrakCUDA.Doctor = bytes.TrimSpace(b.Bytes())
			}
		}
		if err := writeJSON(streams.Out, r); err != nil {
			return err
		}
		return runErr
	}

	w := tabwriter.NewWriter(streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "trak\t%s (%s, %s/%s)\n", r.Version, r.GoVersion, r.OS, r.Arch)
	fmt.Fprintf(w, "cpu\t%s\n", r.CPU.Model)
	ext := "none detected"
	if len(r.CPU.Extensions) > 0 {
		ext = strings.Join(r.CPU.Extensions, " ")
	}
	fmt.Fprintf(w, "vector extensions\t%s\n", ext)
	fmt.Fprintf(w, "cores\t%d logical, GOMAXPROCS %d\n", r.CPU.LogicalCores, r.CPU.GOMAXPROCS)
	if mem.Total > 0 {
		fmt.Fprintf(w, "memory\t%.1f GB total, %.1f GB available\n", float64(mem.Total)/1e9, float64(mem.Available)/1e9)
	}
	fmt.Fprintf(w, "blas\t%s\n", r.BLAS)
	fmt.Fprintf(w, "gemm kernel\t%s (this CPU runs: %s)\n", r.GEMM.Kernel, strings.Join(r.GEMM.Available, ", "))
	fmt.Fprintf(w, "cuda in this binary\t%t\n", r.CUDA)
	driver := r.NVIDIA.Driver
	if driver == "" {
		driver = "none loaded"
	}
	fmt.Fprintf(w, "nvidia driver\t%s\n", driver)
	if len(r.NVIDIA.Devices) > 0 {
		fmt.Fprintf(w, "nvidia devices\t%s\n", strings.Join(r.NVIDIA.Devices, " "))
	}
	if r.TrakCUDA.Path == "" {
		fmt.Fprintf(w, "trak-cuda\tnot found (next to trak or on PATH)\n")
	} else {
		fmt.Fprintf(w, "trak-cuda\t%s\n", r.TrakCUDA.Path)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if gpu.Built() {
		fmt.Fprintln(streams.Out, "\n--- CUDA self-test")
		return gpu.Doctor(streams.Out)
	}
	if runCUDA {
		fmt.Fprintln(streams.Out, "\n--- trak-cuda doctor")
		return runCUDADoctor(streams, r.TrakCUDA.Path, streams.Out)
	}
	return nil
}

// runCUDADoctor runs `trak-cuda doctor` with extra arguments, its report
// going to out, marked as a hand-off so that it never starts trak-cuda
// again.
func runCUDADoctor(streams *IOStreams, bin string, out io.Writer, extra ...string) error {
	c := exec.Command(bin, append([]string{"doctor"}, extra...)...)
	c.Stdout, c.Stderr = out, streams.ErrOut
	c.Env = append(os.Environ(), config.EnvHandoff+"=1")
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s doctor: %w", bin, err)
	}
	return nil
}
