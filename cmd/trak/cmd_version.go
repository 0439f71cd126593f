package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/gpu"
)

// versionInfo is `trak version --format json`.
type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CUDA      bool   `json:"cuda"` // built with -tags cuda (trak-cuda)
}

func currentVersion() versionInfo {
	return versionInfo{Version: version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CUDA: gpu.Built()}
}

func newCmdVersion(io *IOStreams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [--format text|json]",
		Short: "Print the version of trak",
		Example: examples(`
			$ trak version
			$ trak version --format json
		`),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := currentVersion()
			if format == formatJSON {
				return writeJSON(io.Out, v)
			}
			_, err := fmt.Fprintf(io.Out, "trak %s (%s, %s/%s)\n", v.Version, v.GoVersion, v.OS, v.Arch)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}
