package main

// End-to-end tests: they build the real trak binary and run it as a user
// would, on multinomial logistic regression, whose per-example gradients
// the test computes independently from the closed form.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/projection"
)

// built is the trak binary the end-to-end tests run. It is built once, by
// the first test that asks for it (trakBin), so that the in-process tests
// (go test -run TestNewCmd) build nothing.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// e2e false skips the tests that build and run a trak binary (go test
// ./cmd/trak -e2e=false), leaving the in-process ones: CI runs those under
// the race detector, which does not see into a separate process.
var e2e = flag.Bool("e2e", true, "run the end-to-end tests, which build and run the trak binary")

// needE2E skips the test when the end-to-end tests are turned off.
func needE2E(t testing.TB) {
	t.Helper()
	if !*e2e {
		t.Skip("end-to-end test: -e2e=false")
	}
}

// trakBin returns the path of the trak binary, building it on first use.
func trakBin(t testing.TB) string {
	t.Helper()
	needE2E(t)
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "trak-e2e-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "trak")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build trak: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// trak runs the binary in dir and returns stdout, stderr and the exit code.
func trak(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(trakBin(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// mustTrak runs the binary and fails the test on a non-zero exit.
func mustTrak(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := trak(t, dir, args...)
	if code != 0 {
		t.Fatalf("trak %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRAK_") {
			env = append(env, kv)
		}
	}
	return env
}

// progressLine matches the plain progress lines trak prints when stderr is
// not a terminal: "featurize model 0: 600/6000 rows (10%) in 1.2s, ...",
// printed once a tenth of a step's units are done (and stored).
var progressLine = regexp.MustCompile(`^[^:]+: \d+/\d+ \S+ \(\d+%\)`)

// progressPatience bounds the wait for a first progress line: generous,
// since the first tenth takes well under a second on an idle machine, and
// CI may run other test binaries beside this one.
const progressPatience = 2 * time.Minute

// watched is a started trak process whose stderr is read line by line.
type watched struct {
	cmd      *exec.Cmd
	stderr   strings.Builder // complete once done is closed
	progress chan struct{}   // a value per progress line, up to its buffer
	done     chan struct{}   // closed when stderr reaches its end
}

// startWatched starts trak with args in dir.
func startWatched(t *testing.T, dir string, args ...string) *watched {
	t.Helper()
	w := &watched{cmd: exec.Command(trakBin(t), args...), progress: make(chan struct{}, 64), done: make(chan struct{})}
	w.cmd.Dir, w.cmd.Env = dir, cleanEnv()
	pipe, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			w.stderr.WriteString(sc.Text() + "\n")
			if progressLine.MatchString(sc.Text()) {
				select {
				case w.progress <- struct{}{}:
				default: // nobody waits for that many
				}
			}
		}
	}()
	return w
}

// waitProgress waits for n more progress lines and reports whether they
// came; false means the process closed stderr (ended) first. It fails the
// test after progressPatience.
func (w *watched) waitProgress(t *testing.T, n int) bool {
	t.Helper()
	timeout := time.After(progressPatience)
	for range n {
		select {
		case <-w.progress:
			continue
		default:
		}
		select {
		case <-w.progress:
		case <-w.done:
			return false
		case <-timeout:
			w.cmd.Process.Kill()
			w.wait()
			t.Fatalf("trak %s: no progress line within %v\n%s", w.cmd.Args[1], progressPatience, w.stderr.String())
		}
	}
	return true
}

// wait reads stderr to its end, then waits for the process to exit.
func (w *watched) wait() error {
	<-w.done
	return w.cmd.Wait()
}

// killPoint is when killUntilDone kills a run: after seeing lines progress
// lines (none: from the start), wait after.
type killPoint struct {
	lines int
	after time.Duration
}

// killUntilDone runs trak with args in dir until it exits with status 0,
// sending SIGKILL to each of the first maxKills runs at the point at()
// returns; a run that ends first is not killed. Counting progress lines
// (each a tenth of a step, stored) places a kill among the rows however
// fast or busy the machine is. A run that fails any other way fails the
// test. afterKill, if set, runs after every killed run. It returns the
// number of runs killed.
func killUntilDone(t *testing.T, dir string, args []string, maxKills int, at func() killPoint, afterKill func()) int {
	t.Helper()
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt > maxKills+10 {
			t.Fatalf("trak %s never finished", args[0])
		}
		w := startWatched(t, dir, args...)
		if kills < maxKills {
			if p := at(); w.waitProgress(t, p.lines) {
				time.Sleep(p.after)
				w.cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err := w.wait()
		if err == nil {
			return kills
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("trak %s failed: %v\n%s", args[0], err, w.stderr.String())
		}
		kills++
		if afterKill != nil {
			afterKill()
		}
	}
}

// fixture is a logreg problem written to disk: train and target CSVs and
// several checkpoints.
type fixture struct {
	dir            string
	train, targets *logreg.Data
	models         []*logreg.Model // as loaded back from the checkpoint files
}

func newFixture(t *testing.T, n, tgt, d, c, checkpoints int) *fixture {
	t.Helper()
	needE2E(t) // only the end-to-end tests use it
	dir := t.TempDir()
	all := logreg.Generate(n+tgt, d, c, 0.1, 7)
	f := &fixture{dir: dir}
	f.train = &logreg.Data{N: n, D: d, X: all.X[:n*d], Y: all.Y[:n]}
	f.targets = &logreg.Data{N: tgt, D: d, X: all.X[n*d:], Y: all.Y[n:]}
	if err := logreg.WriteCSV(filepath.Join(dir, "train.csv"), f.train); err != nil {
		t.Fatal(err)
	}
	if err := logreg.WriteCSV(filepath.Join(dir, "targets.csv"), f.targets); err != nil {
		t.Fatal(err)
	}
	for m := range checkpoints {
		model := logreg.Train(f.train, logreg.TrainOptions{Classes: c, Epochs: 50, LR: 0.3, L2: 1e-3, Seed: uint64(m), Bootstrap: true})
		path := filepath.Join(dir, fmt.Sprintf("ckpt%d.npy", m))
		if err := logreg.SaveCheckpoint(path, model); err != nil {
			t.Fatal(err)
		}
		loaded, err := logreg.LoadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		f.models = append(f.models, loaded)
	}
	return f
}

func (f *fixture) writeConfig(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(f.dir, "run.yaml")
	text := "save_dir: store\ntask: logreg\ntrain_data: train.csv\ntargets: targets.csv\nexp: val\n" + extra
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gradient is ∇θ f for one example, from the textbook formula
// ∂f/∂z = (e_y − softmax(z)) / (1 − p_y), in float64; and Q = 1 − p_y.
func gradient(m *logreg.Model, x []float64, y int) ([]float64, float64) {
	z := make([]float64, m.C)
	m.Logits(x, z)
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, v)
	}
	var s float64
	p := make([]float64, m.C)
	for c, v := range z {
		p[c] = math.Exp(v - mx)
		s += p[c]
	}
	for c := range p {
		p[c] /= s
	}
	g := make([]float64, m.C*m.D+m.C)
	for c := range m.C {
		dz := -p[c] / (1 - p[y])
		if c == y {
			dz = 1
		}
		for j, v := range x {
			g[c*m.D+j] = dz * v
		}
		g[m.C*m.D+c] = dz
	}
	return g, 1 - p[y]
}

// bruteScores computes the TRAK scores from docs/math.md's formulas in float64:
// X_m = rows Pᵀ∇f, K_m = X_m (X_mᵀX_m + λI)⁻¹ (through an explicit solve of
// the normal equations), score = mean_m K_m g_m(t) · mean_m Q_m.
// bruteScores computes the scores by dense formulas in float64: per model,
// λ = lambda + rel·trace(XᵀX)/min(N, k) (finalize's ridge).
func bruteScores(f *fixture, project func(m int, g []float64) []float64, lambda, rel float64) *mat.Dense {
	n, tn := f.train.N, f.targets.N
	sum := mat.NewDense(n, tn, nil)
	qbar := make([]float64, n)
	for m, model := range f.models {
		var xrows, grows [][]float64
		for i := range n {
			g, q := gradient(model, f.train.Row(i), f.train.Y[i])
			xrows = append(xrows, project(m, g))
			qbar[i] += q / float64(len(f.models))
		}
		for j := range tn {
			g, _ := gradient(model, f.targets.Row(j), f.targets.Y[j])
			grows = append(grows, project(m, g))
		}
		k := len(xrows[0])
		x := mat.NewDense(n, k, nil)
		for i, r := range xrows {
			x.SetRow(i, r)
		}
		g := mat.NewDense(tn, k, nil)
		for j, r := range grows {
			g.SetRow(j, r)
		}
		lambda := lambda
		if rel != 0 {
			var trace float64
			for _, r := range xrows {
				for _, v := range r {
					trace += v * v
				}
			}
			lambda += rel * trace / float64(min(n, k))
		}
		// K Gᵀ = X (XᵀX + λI)⁻¹ Gᵀ, or (XXᵀ + λI)⁻¹ X Gᵀ when k > N, where
		// XᵀX is singular and only the second form exists for λ = 0.
		var s mat.Dense
		if k <= n {
			var a mat.Dense
			a.Mul(x.T(), x)
			for i := range k {
				a.Set(i, i, a.At(i, i)+lambda)
			}
			var sol mat.Dense
			if err := sol.Solve(&a, g.T()); err != nil {
				panic(err)
			}
			s.Mul(x, &sol)
		} else {
			var a, xg mat.Dense
			a.Mul(x, x.T())
			for i := range n {
				a.Set(i, i, a.At(i, i)+lambda)
			}
			xg.Mul(x, g.T())
			if err := s.Solve(&a, &xg); err != nil {
				panic(err)
			}
		}
		s.Scale(1/float64(len(f.models)), &s)
		sum.Add(sum, &s)
	}
	for i := range n {
		for j := range tn {
			sum.Set(i, j, sum.At(i, j)*qbar[i])
		}
	}
	return sum
}

func readScores(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return append([]float32(nil), f.Float32s()...), f.Header().Shape
}

// compareScores checks got against want within tol·max|want|.
func compareScores(t *testing.T, got []float32, want *mat.Dense, tol float64) {
	t.Helper()
	n, tn := want.Dims()
	if len(got) != n*tn {
		t.Fatalf("got %d scores, want %d×%d", len(got), n, tn)
	}
	scale := mat.Norm(want, math.Inf(1)) / float64(tn) // a row-sum bound ≥ max|want|/1
	maxAbs := 0.0
	for i := range n {
		for j := range tn {
			maxAbs = math.Max(maxAbs, math.Abs(want.At(i, j)))
		}
	}
	_ = scale
	worst := 0.0
	for i := range n {
		for j := range tn {
			worst = math.Max(worst, math.Abs(float64(got[i*tn+j])-want.At(i, j)))
		}
	}
	t.Logf("max |score − brute force| = %.3g, max |score| = %.3g", worst, maxAbs)
	if worst > tol*maxAbs {
		t.Errorf("max deviation %.3g exceeds %.1g × max|score| = %.3g", worst, tol, tol*maxAbs)
	}
}

func featurizeAll(t *testing.T, f *fixture, cfg string, extra ...string) {
	t.Helper()
	for m := range f.models {
		args := append([]string{"featurize", "--config", cfg, "--checkpoint", fmt.Sprintf("ckpt%d.npy", m), "--model-id", fmt.Sprint(m)}, extra...)
		mustTrak(t, f.dir, args...)
	}
}

// TestExactScoresDual runs the pipeline with exact gradients (projector
// none) on a problem with fewer train examples than parameters, so finalize
// takes the dual N × N form with λ = 0, and compares with brute force.
func TestExactScoresDual(t *testing.T) {
	f := newFixture(t, 40, 6, 20, 3, 2) // p = 3·21 = 63 > N = 40
	cfg := f.writeConfig(t, "projector:\n  type: none\nlambda: 0\n")
	featurizeAll(t, f, cfg)
	if _, errOut, code := trak(t, f.dir, "finalize", "--config", cfg); code != 0 || !strings.Contains(errOut, "WARNING: model 0 has more feature dimensions than train rows and lambda 0") {
		t.Errorf("finalize in the dual form with lambda 0: exit %d, want 0 and a warning: %s", code, errOut)
	}
	mustTrak(t, f.dir, "score", "--config", cfg)
	got, shape := readScores(t, filepath.Join(f.dir, "store", "scores", "val.npy"))
	if shape[0] != 40 || shape[1] != 6 {
		t.Fatalf("scores shape %v, want [40 6]", shape)
	}
	want := bruteScores(f, func(_ int, g []float64) []float64 { return g }, 0, 0)
	// Gradients are stored in float32 (relative rounding 6e-8) and the dual
	// system's condition number here is below 1e3, so the float32 features
	// carry ~1e-4 relative error into the scores at most.
	compareScores(t, got, want, 1e-3)
	meta, err := os.ReadFile(filepath.Join(f.dir, "store", "0", "meta.json"))
	if err != nil || !bytes.Contains(meta, []byte(`"finalize_form": "dual"`)) {
		t.Errorf("model 0 was not finalized in the dual form: %s", meta)
	}

	// The default ridge, lambda_rel 0.01: λ = 0.01·trace(XXᵀ)/N per model.
	// The system is better conditioned, so the same tolerance holds.
	def := f.writeConfig(t, "projector:\n  type: none\n")
	if _, errOut, _ := trak(t, f.dir, "finalize", "--config", def); strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "from lambda_rel 0.01") {
		t.Errorf("finalize with the default ridge: %s", errOut)
	}
	mustTrak(t, f.dir, "score", "--config", def)
	got, _ = readScores(t, filepath.Join(f.dir, "store", "scores", "val.npy"))
	compareScores(t, got, bruteScores(f, func(_ int, g []float64) []float64 { return g }, 0, 0.01), 1e-3)
}

// TestProjectedScoresPrimal uses the Rademacher projection with k < N, so
// finalize takes the primal k × k form, with λ > 0, and compares with brute
// force built from the projection's entry definition.
func TestProjectedScoresPrimal(t *testing.T) {
	f := newFixture(t, 300, 5, 12, 4, 2) // p = 4·13 = 52, rank ≤ 3·13 = 39
	const k, lambda, seed = 32, 0.5, 11
	cfg := f.writeConfig(t, fmt.Sprintf("projector:\n  type: rademacher\n  dim: %d\n  seed: %d\nlambda: %g\nbatch_size: 7\n", k, seed, lambda))
	featurizeAll(t, f, cfg)
	mustTrak(t, f.dir, "finalize", "--config", cfg)
	mustTrak(t, f.dir, "score", "--config", cfg)
	got, _ := readScores(t, filepath.Join(f.dir, "store", "scores", "val.npy"))
	projs := make([]*projection.Projector, len(f.models))
	for m := range projs {
		p, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, Seed: seed, ModelID: m, NumParams: f.models[m].NumParams()}, 1)
		if err != nil {
			t.Fatal(err)
		}
		projs[m] = p
	}
	project := func(m int, g []float64) []float64 {
		out := make([]float64, k)
		for r, v := range g {
			for c := range k {
				out[c] += v * float64(projs[m].Entry(int64(r), c))
			}
		}
		return out
	}
	want := bruteScores(f, project, lambda, 0)
	// float32 features and float32 block partial sums: ~1e-6 relative per
	// feature; the primal system with λ = 0.5 against eigenvalues up to ~1e4
	// amplifies that to well under 1e-3 of the largest score.
	compareScores(t, got, want, 1e-3)
}

// TestTopOutput checks the TSV and JSON of `trak top` against the score
// matrix itself.
func TestTopOutput(t *testing.T) {
	f := newFixture(t, 60, 3, 5, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 16\nlambda: 0.1\n")
	featurizeAll(t, f, cfg)
	mustTrak(t, f.dir, "finalize", "--config", cfg)
	mustTrak(t, f.dir, "score", "--config", cfg)
	scores, _ := readScores(t, filepath.Join(f.dir, "store", "scores", "val.npy"))
	for _, opp := range []bool{false, true} {
		args := []string{"top", "--config", cfg, "-k", "4"}
		if opp {
			args = append(args, "--opponents")
		}
		out := mustTrak(t, f.dir, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3*4 {
			t.Fatalf("got %d lines, want 12:\n%s", len(lines), out)
		}
		prev := map[int]float64{}
		for _, line := range lines {
			var tgt, tlabel, rank, row, rlabel int
			var sc float64
			if _, err := fmt.Sscanf(strings.ReplaceAll(line, "\t", " "), "%d %d %d %d %d %g", &tgt, &tlabel, &rank, &row, &rlabel, &sc); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if tlabel != f.targets.Y[tgt] || rlabel != f.train.Y[row] {
				t.Errorf("line %q: labels do not match the data", line)
			}
			if want := float64(scores[row*3+tgt]); math.Abs(sc-want) > 1e-6*math.Abs(want) {
				t.Errorf("line %q: score %g, matrix has %g", line, sc, want)
			}
			if p, ok := prev[tgt]; ok && ((!opp && sc > p) || (opp && sc < p)) {
				t.Errorf("line %q: not in rank order", line)
			}
			prev[tgt] = sc
		}
	}
	out := mustTrak(t, f.dir, "top", "--config", cfg, "-k", "2", "--target", "1", "--format", "json")
	var doc []struct {
		Target   int
		Examples []struct {
			Rank       int
			TrainIndex int `json:"train_index"`
			Score      float64
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(doc) != 1 || doc[0].Target != 1 || len(doc[0].Examples) != 2 || doc[0].Examples[0].Rank != 1 {
		t.Errorf("unexpected json: %s", out)
	}
	if _, errOut, code := trak(t, f.dir, "top", "--config", cfg, "--target", "9"); code != 2 || !strings.Contains(errOut, "targets 0..2") {
		t.Errorf("out-of-range target: exit %d, %s", code, errOut)
	}
}

// TestKillAndResume kills featurize with SIGKILL at random points, resumes
// it until it finishes, and checks that the store and the scores are
// bit-identical to those of an uninterrupted run.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := newFixture(t, 6000, 4, 10, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 64\nlambda: 0.1\nbatch_size: 4\nworkers: 1\n")
	args := []string{"featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--save-dir"}
	mustTrak(t, f.dir, append(args, "ref")...)
	rng := rand.New(rand.NewPCG(3, 4))
	partial := 0 // kills that left some, but not all, rows finished
	kills := killUntilDone(t, f.dir, append(args, "killed"), 5,
		// After 1 to 8 tenths of the rows, and up to 20 ms into the next.
		func() killPoint {
			return killPoint{lines: 1 + rng.IntN(8), after: time.Duration(rng.IntN(20)) * time.Millisecond}
		},
		func() {
			if _, flags, err := npy.ReadFile(filepath.Join(f.dir, "killed", "0", "is_featurized.npy")); err == nil {
				if n := bytes.Count(flags, []byte{1}); n > 0 && n < len(flags) {
					partial++
				}
			}
		})
	t.Logf("featurize was killed %d times before it finished, %d times with part of the rows done", kills, partial)
	if partial == 0 {
		t.Fatal("no kill interrupted featurize midway; make the fixture larger")
	}
	for _, name := range []string{"grads.npy", "out_to_loss.npy", "is_featurized.npy"} {
		a, _ := os.ReadFile(filepath.Join(f.dir, "ref", "0", name))
		b, _ := os.ReadFile(filepath.Join(f.dir, "killed", "0", name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the killed-and-resumed run", name)
		}
	}
	for _, store := range []string{"ref", "killed"} {
		mustTrak(t, f.dir, "finalize", "--config", cfg, "--save-dir", store)
		mustTrak(t, f.dir, "score", "--config", cfg, "--save-dir", store)
	}
	a, _ := os.ReadFile(filepath.Join(f.dir, "ref", "scores", "val.npy"))
	b, _ := os.ReadFile(filepath.Join(f.dir, "killed", "scores", "val.npy"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("scores differ between the uninterrupted and the killed-and-resumed run")
	}
}

// TestShardsInParallel runs featurize as four processes with --shard i/4 at
// the same time on one fresh store and compares with one process.
func TestShardsInParallel(t *testing.T) {
	f := newFixture(t, 4001, 2, 6, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 40\nbatch_size: 16\n")
	mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--save-dir", "single")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range 4 {
		cmd := exec.Command(trakBin(t), "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--save-dir", "sharded", "--shard", fmt.Sprintf("%d/4", i))
		cmd.Dir, cmd.Env = f.dir, cleanEnv()
		var buf bytes.Buffer
		cmd.Stderr = &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &buf)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, outs[i])
		}
	}
	flags, err := os.ReadFile(filepath.Join(f.dir, "sharded", "0", "is_featurized.npy"))
	if err != nil {
		t.Fatal(err)
	}
	h, data, err := npy.ReadFile(filepath.Join(f.dir, "sharded", "0", "is_featurized.npy"))
	if err != nil || h.Shape[0] != 4001 {
		t.Fatalf("flags: %v %v", h, err)
	}
	for i, v := range data {
		if v != 1 {
			t.Fatalf("row %d not featurized", i)
		}
	}
	_ = flags
	for _, name := range []string{"grads.npy", "out_to_loss.npy"} {
		a, _ := os.ReadFile(filepath.Join(f.dir, "single", "0", name))
		b, _ := os.ReadFile(filepath.Join(f.dir, "sharded", "0", name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: sharded store differs from the single-process one", name)
		}
	}
	meta, _ := os.ReadFile(filepath.Join(f.dir, "sharded", "0", "meta.json"))
	if !bytes.Contains(meta, []byte(`"featurized": true`)) {
		t.Errorf("meta.json after all shards: %s", meta)
	}
}

// TestResultsIndependentOfBatchAndWorkers: batch size and worker count do
// not change a single bit of the features.
func TestResultsIndependentOfBatchAndWorkers(t *testing.T) {
	f := newFixture(t, 257, 2, 30, 5, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 300\n")
	var ref []byte
	for _, c := range []struct{ batch, workers string }{{"1", "1"}, {"32", "2"}, {"257", "3"}, {"5", "8"}} {
		store := "b" + c.batch + "w" + c.workers
		mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--save-dir", store, "--batch-size", c.batch, "--workers", c.workers)
		got, err := os.ReadFile(filepath.Join(f.dir, store, "0", "grads.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = got
		} else if !bytes.Equal(ref, got) {
			t.Errorf("batch %s, workers %s: features differ from batch 1, workers 1", c.batch, c.workers)
		}
	}
}

// TestErrors: bad input gives a clear message and a non-zero exit, and
// leaves the store usable.
func TestErrors(t *testing.T) {
	f := newFixture(t, 50, 2, 4, 3, 2)
	cfg := f.writeConfig(t, "projector:\n  dim: 8\n")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown key", []string{"featurize", "--config", writeFile(t, f.dir, "bad.yaml", "save_dir: s\nprojecter:\n  dim: 3\n")}, 1, []string{"unknown key projecter", "did you mean"}},
		{"missing config", []string{"featurize", "--config", "nope.yaml"}, 1, []string{"nope.yaml"}},
		{"missing checkpoint", []string{"featurize", "--config", cfg, "--checkpoint", "gone.npy"}, 1, []string{"gone.npy"}},
		{"corrupt checkpoint", []string{"featurize", "--config", cfg, "--checkpoint", writeFile(t, f.dir, "bad.npy", "\x93NUMPY garbage")}, 1, []string{"bad.npy"}},
		{"no checkpoint", []string{"featurize", "--config", cfg}, 1, []string{"checkpoint is not set", "--checkpoint", "TRAK_CHECKPOINT"}},
		{"bad shard", []string{"featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--shard", "4/4"}, 2, []string{"invalid shard"}},
		{"unknown flag", []string{"featurize", "--bogus"}, 2, []string{"unknown flag: --bogus", "for usage."}},
		{"finalize without store", []string{"finalize", "--save-dir", "nowhere"}, 1, []string{"no store at nowhere"}},
		{"top without scores", []string{"top", "--save-dir", "nowhere", "--exp", "x"}, 1, []string{"no store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := trak(t, f.dir, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, errOut)
				}
			}
		})
	}

	t.Run("store mismatch", func(t *testing.T) {
		mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy")
		_, errOut, code := trak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt1.npy", "--model-id", "1", "--projector-dim", "9")
		if code != 1 || !strings.Contains(errOut, "k: store has 8, this run has 9") || !strings.Contains(errOut, "projector.dim") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		_, errOut, code = trak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt1.npy", "--model-id", "0")
		if code != 1 || !strings.Contains(errOut, "model id 0") || !strings.Contains(errOut, "another --model-id") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
	t.Run("sjlt s recorded", func(t *testing.T) {
		// A store featurized with sjlt records s; another checkpoint
		// featurized with --save-dir alone uses it; another s is refused,
		// naming projector.s; status shows it.
		sj := writeFile(t, f.dir, "sjlt.yaml", "save_dir: sjlt\ntask: logreg\ntrain_data: train.csv\nprojector:\n  type: sjlt\n  dim: 8\n  s: 3\n")
		mustTrak(t, f.dir, "featurize", "--config", sj, "--checkpoint", "ckpt0.npy")
		mustTrak(t, f.dir, "featurize", "--save-dir", "sjlt", "--checkpoint", "ckpt1.npy", "--model-id", "1")
		_, errOut, code := trak(t, f.dir, "featurize", "--save-dir", "sjlt", "--checkpoint", "ckpt1.npy", "--model-id", "2", "--projector-s", "2")
		if code != 1 || !strings.Contains(errOut, "s: store has 3, this run has 2") || !strings.Contains(errOut, "projector.s") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		if out := mustTrak(t, f.dir, "status", "--save-dir", "sjlt"); !strings.Contains(out, "sjlt, k = 8, s = 3") {
			t.Errorf("status does not show s:\n%s", out)
		}
	})
	t.Run("singular", func(t *testing.T) {
		// p = 3·5 = 15 parameters but rank ≤ 2·5 = 10: XᵀX (k = 8 ≤ N) can be
		// fine, but exact gradients (k = 15) make it singular with λ = 0.
		exact := writeFile(t, f.dir, "exact.yaml", "save_dir: exact\ntask: logreg\ntrain_data: train.csv\nprojector:\n  type: none\nlambda: 0\n")
		mustTrak(t, f.dir, "featurize", "--config", exact, "--checkpoint", "ckpt0.npy")
		_, errOut, code := trak(t, f.dir, "finalize", "--config", exact)
		if code != 1 || !strings.Contains(errOut, "lambda") || !strings.Contains(errOut, "singular") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		mustTrak(t, f.dir, "finalize", "--config", exact, "--lambda", "0.01")
	})
	t.Run("unfinished model", func(t *testing.T) {
		mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt1.npy", "--model-id", "1", "--shard", "0/2")
		_, errOut, code := trak(t, f.dir, "finalize", "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "not featurized") {
			t.Errorf("finalize: exit %d: %s", code, errOut)
		}
		mustTrak(t, f.dir, "finalize", "--config", cfg, "--model-id", "0")
		_, errOut, code = trak(t, f.dir, "score", "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "--skip-unfinished") {
			t.Errorf("score: exit %d: %s", code, errOut)
		}
		_, errOut, code = trak(t, f.dir, "score", "--config", cfg, "--skip-unfinished")
		if code != 0 || !strings.Contains(errOut, "skipping unfinished model ids [1]") {
			t.Errorf("score --skip-unfinished: exit %d: %s", code, errOut)
		}
		exps, _ := os.ReadFile(filepath.Join(f.dir, "store", "experiments.json"))
		if !bytes.Contains(exps, []byte(`"model_ids": [`)) || !bytes.Contains(exps, []byte(`"scored": true`)) {
			t.Errorf("experiments.json: %s", exps)
		}
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestFullDisk featurizes into a store on a 1 MiB file system: the run must
// stop with an error that says the disk is full, not crash, and leave the
// store valid. It needs root to mount a tmpfs and is skipped otherwise.
func TestFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	f := newFixture(t, 3000, 2, 4, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 128\n") // 3000 × 128 × 4 B = 1.5 MB of features
	store := filepath.Join(mnt, "store")
	_, errOut, code := trak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy", "--save-dir", store)
	if code != 1 || !strings.Contains(errOut, "not enough free disk space") || !strings.Contains(errOut, "grads.npy") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(store, "0", "grads.npy")); err == nil {
		t.Error("a grads.npy was left that does not fit the disk")
	}
	if _, errOut, code := trak(t, f.dir, "finalize", "--save-dir", store); code != 1 || !strings.Contains(errOut, "model 0 is not featurized") {
		t.Errorf("finalize on the failed store: exit %d, %s", code, errOut)
	}
}

// TestInterrupt: Ctrl-C (SIGINT) stops featurize between batches with exit
// status 130 and a message that says how to continue; the rerun finishes.
// The signal is sent once stderr shows the first progress line, which comes
// after a tenth of the rows are stored: by then the signal handler is in
// place and the rerun has finished rows to reuse, and nine tenths of the
// work are left for the signal to land in. A fixed delay could fire before
// the handler (the default action kills the process) or after the end.
func TestInterrupt(t *testing.T) {
	f := newFixture(t, 6000, 2, 10, 3, 1)
	cfg := f.writeConfig(t, "projector:\n  dim: 64\nbatch_size: 4\n")
	w := startWatched(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy")
	if !w.waitProgress(t, 1) {
		w.wait()
		t.Fatalf("featurize ended before its first progress line:\n%s", w.stderr.String())
	}
	if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := w.wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\n%s", err, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "run the same command again to continue") {
		t.Errorf("stderr: %s", w.stderr.String())
	}
	_, errOut, code := trak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy")
	if code != 0 || !strings.Contains(errOut, "rows were already done") {
		t.Errorf("resume: exit %d, %s", code, errOut)
	}
}

// TestInspect reads the reference CLIP checkpoints in both formats and
// reports problems by name.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-gelu")
	for _, file := range []string{"model.safetensors", "model.pt", "model_bf16.safetensors"} {
		abs, _ := filepath.Abs(filepath.Join(ref, file))
		cfg, _ := filepath.Abs(filepath.Join(ref, "open_clip_config.json"))
		out := mustTrak(t, dir, "inspect", abs, "--model-config", cfg)
		for _, want := range []string{"60,673 parameters", "vision", "32,384", "28,288", "status        ok", "layout        open_clip state dict"} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect %s: output lacks %q:\n%s", file, want, out)
			}
		}
	}
	// Beside its open_clip_config.json, a config that contradicts it is
	// refused by key; alone, the tensors are checked against it.
	abs, _ := filepath.Abs(filepath.Join(ref, "model.safetensors"))
	out, errOut, code := trak(t, dir, "inspect", abs, "--model-config", "ViT-B-32")
	if code != 1 || !strings.Contains(errOut, "model_config contradicts") || !strings.Contains(errOut, "embed_dim is 16 in the checkpoint, 512 in model_config") {
		t.Errorf("config contradicting open_clip_config.json: exit %d\n%s\n%s", code, out, errOut)
	}
	alone := filepath.Join(dir, "alone.safetensors")
	data, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = trak(t, dir, "inspect", alone, "--model-config", "ViT-B-32")
	if code != 1 || !strings.Contains(errOut, "missing") || !strings.Contains(errOut, "wrong shape: text_projection") {
		t.Errorf("mismatched config: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := writeFile(t, dir, "bad.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
	if _, errOut, code := trak(t, dir, "inspect", bad); code != 1 || !strings.Contains(errOut, "bad.safetensors") {
		t.Errorf("corrupt file: exit %d, %s", code, errOut)
	}
	if _, errOut, code := trak(t, dir, "inspect"); code != 2 || !strings.Contains(errOut, "accepts 1 arg") {
		t.Errorf("no argument: exit %d, %s", code, errOut)
	}
}

func TestTokenize(t *testing.T) {
	dir := t.TempDir()
	out := mustTrak(t, dir, "tokenize", "--trim", "a photo of a cat", "hello world!")
	if want := "49406\t320\t1125\t539\t320\t2368\t49407\n49406\t3306\t1002\t256\t49407\n"; out != want {
		t.Errorf("tokenize printed %q, want %q", out, want)
	}
	cmd := exec.Command(trakBin(t), "tokenize", "--context-length", "4", "--out", "t.npy")
	cmd.Dir, cmd.Env = dir, cleanEnv()
	cmd.Stdin = strings.NewReader("a photo of a cat\n\nx\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	h, data, err := npy.ReadFile(filepath.Join(dir, "t.npy"))
	if err != nil || h.DType != npy.Int64 || len(h.Shape) != 2 || h.Shape[0] != 3 || h.Shape[1] != 4 {
		t.Fatalf("t.npy: %v %v", h, err)
	}
	ids := make([]int64, 12)
	for i := range ids {
		ids[i] = int64(data[8*i]) | int64(data[8*i+1])<<8 | int64(data[8*i+2])<<16
	}
	// "a photo of a cat" cut to 4: start, a, photo, end; "" gives start, end, 0, 0.
	want := []int64{49406, 320, 1125, 49407, 49406, 49407, 0, 0, 49406, 343, 49407, 0}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
}

func TestPreprocess(t *testing.T) {
	dir := t.TempDir()
	in, _ := filepath.Abs(filepath.Join("..", "..", "internal", "imageprep", "testdata", "in"))
	a, b := filepath.Join(in, "exact32x45.png"), filepath.Join(in, "cmyk.jpg")
	mustTrak(t, dir, "preprocess", a, b, "--image-size", "32", "--out", "x.npy")
	h, _, err := npy.ReadFile(filepath.Join(dir, "x.npy"))
	if err != nil || fmt.Sprint(h.Shape) != "[2 3 32 32]" {
		t.Fatalf("x.npy: %v %v", h, err)
	}
	bad := writeFile(t, dir, "bad.png", "not an image")
	_, errOut, code := trak(t, dir, "preprocess", a, bad, "--out", "y.npy")
	if code != 1 || !strings.Contains(errOut, "bad.png") || !strings.Contains(errOut, "--on-bad-example skip") {
		t.Errorf("bad image: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "y.npy")); err == nil {
		t.Error("a failed preprocess left an output file")
	}
	_, errOut, code = trak(t, dir, "preprocess", a, bad, "--out", "y.npy", "--on-bad-example", "skip")
	if code != 0 || !strings.Contains(errOut, "skipped row 1") || !strings.Contains(errOut, "1 skipped") {
		t.Errorf("skip: exit %d, %s", code, errOut)
	}
}

// TestTuxPaintStamps preprocesses Debian's Tux Paint stamps (a folder of
// image + caption pairs) when the package is installed (.ci/run installs it).
func TestTuxPaintStamps(t *testing.T) {
	const stamps = "/usr/share/tuxpaint/stamps"
	if _, err := os.Stat(stamps); err != nil {
		t.Skip("tuxpaint-stamps-default is not installed")
	}
	dir := t.TempDir()
	_, errOut, code := trak(t, dir, "preprocess", "--data", stamps, "--image-size", "16", "--out", "tux.npy", "--on-bad-example", "skip")
	if code != 0 || !strings.Contains(errOut, "unsupported format svg") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	h, _, err := npy.ReadFile(filepath.Join(dir, "tux.npy"))
	if err != nil || h.Shape[0] < 900 {
		t.Errorf("tux.npy: %v %v", h, err)
	}
}

// clipFixture writes a small CLIP data set (PNG images and a CSV) and
// randomly initialised checkpoints of a small model with the real CLIP
// vocabulary, so that the built-in tokenizer can be used.
func clipFixture(t *testing.T, n, checkpoints int) string {
	t.Helper()
	needE2E(t) // only the end-to-end tests use it
	dir := t.TempDir()
	cfg := clip.Config{
		EmbedDim: 16,
		Vision:   clip.VisionConfig{ImageSize: 16, Layers: 1, Width: 32, HeadWidth: 16, PatchSize: 8, MLPRatio: 4},
		Text:     clip.TextConfig{ContextLength: 12, VocabSize: 49408, Width: 32, Heads: 2, Layers: 1, MLPRatio: 4},
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), cfg.JSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	for m := range checkpoints {
		rng := rand.New(rand.NewPCG(uint64(m), 9))
		var ts []checkpoint.NamedTensor
		for _, p := range cfg.Params() {
			v := make([]float32, p.Len())
			for i := range v {
				v[i] = float32(0.3 * rng.NormFloat64())
				if strings.Contains(p.Name, "ln") && strings.HasSuffix(p.Name, "weight") {
					v[i] += 1
				}
			}
			if p.Name == "logit_scale" {
				v[0] = float32(math.Log(1 / 0.07))
			}
			ts = append(ts, checkpoint.NamedTensor{Name: p.Name, Shape: p.Shape, Data: v})
		}
		if err := checkpoint.WriteSafetensors(filepath.Join(dir, fmt.Sprintf("ckpt%d.safetensors", m)), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	words := []string{"red", "green", "blue", "square", "circle", "small", "large", "cat", "dog"}
	rng := rand.New(rand.NewPCG(5, 5))
	var csv strings.Builder
	csv.WriteString("filepath,title\n")
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 20+i%5, 16+i%3))
		c := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := range img.Rect.Dy() {
			for x := range img.Rect.Dx() {
				img.Set(x, y, color.NRGBA{c.R ^ uint8(x*7), c.G ^ uint8(y*5), c.B, 255})
			}
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		name := fmt.Sprintf("img%03d.png", i)
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
		fmt.Fprintf(&csv, "%s,a %s %s %s\n", name, words[rng.IntN(3)], words[3+rng.IntN(4)], words[7+rng.IntN(2)])
	}
	os.WriteFile(filepath.Join(dir, "train.csv"), []byte(csv.String()), 0o644)
	return dir
}

// TestCLIPPipeline runs featurize (two checkpoints), finalize, score and
// top on CLIP through the binary, with a bad image skipped.
func TestCLIPPipeline(t *testing.T) {
	dir := clipFixture(t, 24, 2)
	os.WriteFile(filepath.Join(dir, "img007.png"), []byte("corrupt"), 0o644)
	cfg := writeFile(t, dir, "run.yaml", "save_dir: store\ntask: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nmodel_config: model.json\nprojector:\n  dim: 32\nlambda: 0.01\nsim_batch_size: 10\nbatch_size: 5\non_bad_example: skip\n")
	for m := range 2 {
		_, errOut, code := trak(t, dir, "featurize", "--config", cfg, "--checkpoint", fmt.Sprintf("ckpt%d.safetensors", m), "--model-id", fmt.Sprint(m))
		if code != 0 || !strings.Contains(errOut, "skipped 1 bad examples") {
			t.Fatalf("featurize %d: exit %d\n%s", m, code, errOut)
		}
	}
	report, _ := os.ReadFile(filepath.Join(dir, "store", "0", "skipped.tsv"))
	if !strings.HasPrefix(string(report), "7\t") || !strings.Contains(string(report), "img007.png") {
		t.Errorf("skipped.tsv: %q", report)
	}
	mustTrak(t, dir, "finalize", "--config", cfg)
	mustTrak(t, dir, "score", "--config", cfg)
	scores, shape := readScores(t, filepath.Join(dir, "store", "scores", "self.npy"))
	if shape[0] != 24 || shape[1] != 24 {
		t.Fatalf("scores shape %v", shape)
	}
	for i, v := range scores {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("score %d is %g", i, v)
		}
		if (i/24 == 7 || i%24 == 7) && v != 0 {
			t.Fatalf("score %d involves the skipped row 7 but is %g", i, v)
		}
	}
	// Each target's strongest proponent should be itself (its own features
	// align with its train features) for most targets.
	self := 0
	for j := range 24 {
		best := 0
		for i := range 24 {
			if scores[i*24+j] > scores[best*24+j] {
				best = i
			}
		}
		if best == j {
			self++
		}
	}
	t.Logf("%d of 23 targets have themselves as top proponent", self)
	if self < 12 {
		t.Errorf("only %d of 23 usable targets rank themselves first", self)
	}
	for _, f := range []string{"embeddings_image.npy", "embeddings_text.npy", "is_embedded.npy"} {
		if _, err := os.Stat(filepath.Join(dir, "store", "1", f)); err != nil {
			t.Error(err)
		}
	}
	out := mustTrak(t, dir, "top", "--config", cfg, "-k", "2", "--target", "3", "--header")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "target\ttarget_image\ttarget_caption\trank\ttrain_index\ttrain_image\ttrain_caption\tscore" {
		t.Fatalf("top: %q", out)
	}
	if f := strings.Split(lines[1], "\t"); len(f) != 8 || filepath.Base(f[1]) != "img003.png" || !strings.HasPrefix(f[2], "a ") {
		t.Errorf("top line %q", lines[1])
	}

	// A changed train set must not be featurized into this store.
	csv, _ := os.ReadFile(filepath.Join(dir, "train.csv"))
	os.WriteFile(filepath.Join(dir, "train.csv"), bytes.Replace(csv, []byte(",a "), []byte(",the "), 1), 0o644)
	_, errOut, code := trak(t, dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.safetensors", "--model-id", "2")
	if code != 1 || !strings.Contains(errOut, "train_fingerprint") {
		t.Errorf("changed train set: exit %d, %s", code, errOut)
	}
}

// TestCLIPShards: three concurrent --shard processes (which share the
// embedding table) give the same store as one process.
func TestCLIPShards(t *testing.T) {
	dir := clipFixture(t, 17, 1)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 24\nsim_batch_size: 5\nbatch_size: 3\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "single")
	var cmds []*exec.Cmd
	for i := range 3 {
		cmd := exec.Command(trakBin(t), "featurize", "--config", cfg, "--save-dir", "sharded", "--shard", fmt.Sprintf("%d/3", i))
		cmd.Dir, cmd.Env = dir, cleanEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	for _, name := range []string{"embeddings_image.npy", "embeddings_text.npy", "grads.npy", "out_to_loss.npy", "is_featurized.npy"} {
		a, _ := os.ReadFile(filepath.Join(dir, "single", "0", name))
		b, _ := os.ReadFile(filepath.Join(dir, "sharded", "0", name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: sharded store differs from the single-process one", name)
		}
	}
}

// TestCLIPKillAndResume SIGKILLs a CLIP featurize (in its embedding-table
// pass or its gradient pass) at random points, resumes it, and compares
// every array with an uninterrupted run, bit for bit.
func TestCLIPKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := clipFixture(t, 150, 1)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 64\nsim_batch_size: 7\nbatch_size: 2\nworkers: 1\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "ref")
	rng := rand.New(rand.NewPCG(8, 8))
	partial := 0
	kills := killUntilDone(t, dir, []string{"featurize", "--config", cfg, "--save-dir", "killed"}, 5,
		// Each pass prints nine tenths and a summary: 1 to 18 lines
		// lands in either pass, then up to 20 ms on.
		func() killPoint {
			return killPoint{lines: 1 + rng.IntN(18), after: time.Duration(rng.IntN(20)) * time.Millisecond}
		},
		func() {
			for _, flags := range []string{"is_embedded.npy", "is_featurized.npy"} {
				if _, f, err := npy.ReadFile(filepath.Join(dir, "killed", "0", flags)); err == nil {
					if n := bytes.Count(f, []byte{0}); n > 0 && n < len(f) {
						partial++
					}
				}
			}
		})
	t.Logf("killed %d times, %d of them midway through a pass", kills, partial)
	if partial == 0 {
		t.Fatal("no kill landed midway through a pass; make the fixture larger")
	}
	for _, name := range []string{"embeddings_image.npy", "embeddings_text.npy", "is_embedded.npy", "grads.npy", "out_to_loss.npy", "is_featurized.npy"} {
		a, _ := os.ReadFile(filepath.Join(dir, "ref", "0", name))
		b, _ := os.ReadFile(filepath.Join(dir, "killed", "0", name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs after kill and resume", name)
		}
	}
}

// TestCLIPKillDuringScore SIGKILLs score (whose target featurize is
// resumable and whose score file appears only complete) at random points,
// and finalize too (on this small store it usually finishes before the
// signal), and checks that the reruns give the uninterrupted scores.
func TestCLIPKillDuringScore(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := clipFixture(t, 120, 1)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: val\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 48\nlambda: 0.01\nsim_batch_size: 9\nbatch_size: 2\nworkers: 1\n")
	for _, st := range []string{"ref", "killed"} {
		mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", st)
	}
	mustTrak(t, dir, "finalize", "--config", cfg, "--save-dir", "ref")
	mustTrak(t, dir, "score", "--config", cfg, "--save-dir", "ref")
	rng := rand.New(rand.NewPCG(11, 11))
	for _, command := range []string{"finalize", "score"} {
		kills := killUntilDone(t, dir, []string{command, "--config", cfg, "--save-dir", "killed"}, 3,
			func() killPoint { return killPoint{after: time.Duration(20+rng.IntN(300)) * time.Millisecond} }, nil)
		t.Logf("%s killed %d times", command, kills)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "ref", "scores", "val.npy"))
	b, _ := os.ReadFile(filepath.Join(dir, "killed", "scores", "val.npy"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("scores differ after killed finalize and score runs")
	}
}

// TestKillFinalize SIGKILLs finalize at random points of a store large
// enough to take a few seconds; the rerun must give the uninterrupted
// features.npy, and no partial file may pass for a finished one.
func TestKillFinalize(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := newFixture(t, 3000, 2, 300, 4, 1) // p = 4·301 = 1204
	cfg := f.writeConfig(t, "projector:\n  type: none\nlambda: 0.1\nbatch_size: 256\n")
	mustTrak(t, f.dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.npy")
	start := time.Now()
	mustTrak(t, f.dir, "finalize", "--config", cfg)
	took := time.Since(start)
	ref, err := os.ReadFile(filepath.Join(f.dir, "store", "0", "features.npy"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.dir, "store", "0", "features.npy"))
	meta, _ := os.ReadFile(filepath.Join(f.dir, "store", "0", "meta.json"))
	os.WriteFile(filepath.Join(f.dir, "store", "0", "meta.json"), bytes.Replace(meta, []byte(`"finalized": true`), []byte(`"finalized": false`), 1), 0o644)
	rng := rand.New(rand.NewPCG(12, 12))
	kills := killUntilDone(t, f.dir, []string{"finalize", "--config", cfg}, 3,
		func() killPoint { return killPoint{after: time.Duration(float64(took) * (0.2 + 0.6*rng.Float64()))} },
		func() {
			if _, err := os.Stat(filepath.Join(f.dir, "store", "0", "features.npy")); err == nil {
				t.Fatal("a killed finalize left a features.npy")
			}
		})
	t.Logf("finalize (%.1f s uninterrupted) killed %d times", took.Seconds(), kills)
	got, _ := os.ReadFile(filepath.Join(f.dir, "store", "0", "features.npy"))
	if !bytes.Equal(ref, got) {
		t.Error("features.npy differs after killed finalize runs")
	}
}

// TestTrain trains a small CLIP through the binary, checks that the run is
// deterministic for a seed, that the loss curve is written, and that the
// checkpoint loads and featurizes.
func TestTrain(t *testing.T) {
	dir := clipFixture(t, 24, 0)
	for _, out := range []string{"a", "b"} {
		_, errOut, code := trak(t, dir, "train", "--data", "train.csv", "--model-config", "model.json", "--out", out, "--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--seed", "4", "--warmup", "2", "--workers", "2")
		if code != 0 || !strings.Contains(errOut, "epoch 3: mean loss") || !strings.Contains(errOut, "saved") {
			t.Fatalf("train: exit %d\n%s", code, errOut)
		}
	}
	// A run that cannot learn (one epoch at a learning rate of 1e-7) ends
	// at chance: train still writes its checkpoint and exits 0, but says so
	// loudly on stderr, naming the run, its loss against chance and a fix.
	_, errOut, code := trak(t, dir, "train", "--data", "train.csv", "--model-config", "model.json", "--out", "stuck", "--epochs", "1", "--batch-size", "8", "--lr", "1e-7", "--workers", "2")
	for _, want := range []string{"WARNING: the model of stuck did not learn", "not clearly below chance (ln 8 = 2.079", "Fix: train longer"} {
		if code != 0 || !strings.Contains(errOut, want) {
			t.Errorf("train at chance: exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a", "epoch_3.safetensors"))
	b, _ := os.ReadFile(filepath.Join(dir, "b", "epoch_3.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the same seed gave different checkpoints")
	}
	curve, _ := os.ReadFile(filepath.Join(dir, "a", "loss.csv"))
	if lines := strings.Count(string(curve), "\n"); lines != 1+3*3 {
		t.Errorf("loss.csv has %d lines, want a header and 9 steps:\n%s", lines, curve)
	}
	// The architecture comes from the open_clip_config.json (hub form) beside
	// the checkpoint, with or without model_config naming it.
	for _, args := range [][]string{nil, {"--model-config", filepath.Join("a", "open_clip_config.json")}} {
		out := mustTrak(t, dir, append([]string{"inspect", filepath.Join("a", "epoch_3.safetensors")}, args...)...)
		if !strings.Contains(out, "status        ok") || !strings.Contains(out, "preprocess    size 16, mean [0.48145466") {
			t.Errorf("inspect %v: %s", args, out)
		}
	}
	hub, _ := os.ReadFile(filepath.Join(dir, "a", "open_clip_config.json"))
	if !strings.Contains(string(hub), `"model_cfg"`) || !strings.Contains(string(hub), `"preprocess_cfg"`) {
		t.Errorf("open_clip_config.json is not in open_clip's hub form:\n%s", hub)
	}
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\nprojector:\n  dim: 16\nsim_batch_size: 5\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "store", "--checkpoint", filepath.Join("a", "epoch_3.safetensors"))

	// --epochs 0 saves the initial weights alone, without a step: the same
	// seed gives the same file, and it featurizes like any checkpoint.
	for _, out := range []string{"init1", "init2"} {
		_, errOut, code := trak(t, dir, "train", "--data", "train.csv", "--model-config", "model.json", "--out", out, "--epochs", "0", "--batch-size", "8", "--seed", "4")
		if code != 0 || !strings.Contains(errOut, "epoch_0.safetensors") {
			t.Fatalf("train --epochs 0: exit %d\n%s", code, errOut)
		}
	}
	i1, _ := os.ReadFile(filepath.Join(dir, "init1", "epoch_0.safetensors"))
	i2, _ := os.ReadFile(filepath.Join(dir, "init2", "epoch_0.safetensors"))
	if len(i1) == 0 || !bytes.Equal(i1, i2) || bytes.Equal(i1, a) {
		t.Error("--epochs 0: the initial weights differ between runs of one seed, or equal the trained ones")
	}
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "store", "--model-id", "1", "--checkpoint", filepath.Join("init1", "epoch_0.safetensors"))
}

// TestDoctorAndDevice: doctor describes the machine; --device cuda on a
// machine without a GPU says what is missing.
func TestDoctorAndDevice(t *testing.T) {
	dir := t.TempDir()
	out := mustTrak(t, dir, "doctor")
	for _, want := range []string{"cpu ", "cores", "blas", "cuda in this binary  false", "trak-cuda"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat("/proc/driver/nvidia/version"); err == nil {
		t.Skip("an NVIDIA driver is loaded here; the no-GPU messages cannot be checked")
	}
	_, errOut, code := trak(t, dir, "featurize", "--device", "cuda", "--save-dir", "s", "--checkpoint", "c", "--train-data", "d")
	if code != 1 || !strings.Contains(errOut, "no NVIDIA driver") || !strings.Contains(errOut, "--device cpu") {
		t.Errorf("--device cuda without a GPU: exit %d, %s", code, errOut)
	}
	if _, errOut, code := trak(t, dir, "featurize", "--device", "tpu"); code != 2 || !strings.Contains(errOut, "auto, cpu or cuda") {
		t.Errorf("--device tpu: exit %d, %s", code, errOut)
	}
}

// TestCLIPCustomColumns reads a CSV with other column names through the
// data.* keys, and top still describes the examples.
func TestCLIPCustomColumns(t *testing.T) {
	dir := clipFixture(t, 12, 1)
	csv, _ := os.ReadFile(filepath.Join(dir, "train.csv"))
	os.WriteFile(filepath.Join(dir, "pairs.csv"), bytes.Replace(csv, []byte("filepath,title"), []byte("img,cap"), 1), 0o644)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: pairs.csv\ntargets: pairs.csv\nexp: e\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\ndata:\n  image_column: img\n  caption_column: cap\nprojector:\n  dim: 8\nlambda: 0.1\nsim_batch_size: 4\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "s")
	mustTrak(t, dir, "finalize", "--config", cfg, "--save-dir", "s")
	mustTrak(t, dir, "score", "--config", cfg, "--save-dir", "s")
	out, errOut, code := trak(t, dir, "top", "--config", cfg, "--save-dir", "s", "-k", "1", "--target", "0")
	if code != 0 || strings.Contains(errOut, "note:") {
		t.Fatalf("top: exit %d, %s", code, errOut)
	}
	if f := strings.Split(strings.TrimSpace(out), "\t"); len(f) != 8 || filepath.Base(f[1]) != "img000.png" || !strings.HasPrefix(f[2], "a ") {
		t.Errorf("top line %q", out)
	}
}
