// Package score holds the linear algebra of TRAK after featurization:
// finalizing the train features of each checkpoint, combining checkpoints
// into train × target scores, and ranking them.
//
// # Shapes
//
// For checkpoint m = 1, …, M:
//
//	X_m  N × k   train features, row i = g_m(z_i)
//	K_m  N × k   finalized train features, from Finalize
//	G_m  T × k   target features, row t = g_m(t)
//	Q_m  N       out-to-loss terms Q_m(z_i)
//	S    N × T   scores, train × target
//
// All matrices are read row by row through Matrix and written row by row
// through RowWriter, so the store can back them with memory-mapped float32 or
// float16 files; everything is computed in float64.
//
// # Finalize
//
//	K_m = X_m (X_mᵀ X_m + λI)⁻¹
//
// with λ ≥ 0 the config key `lambda`. When k > N the same K comes from the
// N × N system of the identity
//
//	X (XᵀX + λI)⁻¹ = (XXᵀ + λI)⁻¹ X
//
// (multiply XᵀX + λI on the right and XXᵀ + λI on the left), the "dual" form,
// which makes exact gradients (k = number of parameters) usable when N is
// small. ChooseForm picks the smaller system. Either system is factorised
// once with Cholesky and K is obtained by triangular solves, never through an
// inverse; X is streamed in blocks, so memory is O(k² + block·k) in the
// primal form and O(N² + N·block) in the dual form. A system that is
// singular, or whose estimated condition number exceeds 1/(10·n·ε) for order
// n, is reported as a *SingularError that suggests a value for `lambda`:
// beyond that bound a float64 solve carries no correct digit, and no NaN or
// noise is ever written instead.
//
// # Scores
//
//	S[i, t] = ( (1/M) Σ_m (K_m g_m(t))_i ) · ( (1/M) Σ_m Q_m[i] )
//
// that is S = diag(Q̄) · (1/M) Σ_m K_m G_mᵀ with Q̄ the mean of the Q_m.
// Scores streams the K_m by blocks of rows and holds every G_m.
//
// # Top
//
// Top ranks the rows of one column of S: highest scores first (proponents)
// or lowest first (opponents), equal scores by increasing row index, NaN
// after every number.
package score
