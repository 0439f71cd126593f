// Command fakecuda stands in for trak-cuda in the --device hand-off tests
// (handoff_e2e_test.go). It appends its arguments and TRAK_* environment to
// $FAKECUDA_LOG as one JSON line, then either runs $FAKECUDA_EXEC (a trak
// binary) with the same arguments, streams and environment, as trak-cuda
// would run the command, or exits with status $FAKECUDA_EXIT.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// maxRuns stops a hand-off that starts trak-cuda again and again.
const maxRuns = 5

func main() { os.Exit(run()) }

func run() int {
	log := os.Getenv("FAKECUDA_LOG")
	if log == "" {
		fmt.Fprintln(os.Stderr, "fakecuda: FAKECUDA_LOG is not set")
		return 70
	}
	if prev, err := os.ReadFile(log); err == nil && strings.Count(string(prev), "\n") >= maxRuns {
		fmt.Fprintf(os.Stderr, "fakecuda: started %d times: the hand-off loops\n", maxRuns+1)
		return 71
	}
	rec := struct {
		Args []string          `json:"args"`
		Env  map[string]string `json:"env"`
	}{Args: os.Args[1:], Env: map[string]string{}}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TRAK_") {
			rec.Env[k] = v
		}
	}
	line, err := json.Marshal(rec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecuda:", err)
		return 70
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecuda:", err)
		return 70
	}
	if exe := os.Getenv("FAKECUDA_EXEC"); exe != "" {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakecuda:", err)
			return 70
		}
		return 0
	}
	code, _ := strconv.Atoi(os.Getenv("FAKECUDA_EXIT"))
	return code
}
