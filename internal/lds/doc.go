// Package lds computes the linear datamodeling score (LDS) of a matrix of
// attribution scores: the measure of attribution quality of the TRAK paper
// (Park et al., ICML 2023), the pure computation behind `trak eval lds`.
//
// # Definition
//
// Let the train set have N rows and let τ(t, i) be the score of train row i
// for target t. Draw M subsets S_1, …, S_M of {0, …, N−1}, each of exactly
// k = round(α·N) rows (Subsets), and train one model on each subset; f_j(t)
// is the model output of subset model j on target t (the same model-output
// function that the scores attribute). The scores predict that output as the
// sum of the scores of the rows the subset holds (Predict):
//
//	g_j(t) = Σ_{i ∈ S_j} τ(t, i).
//
// The LDS of target t is Spearman's rank correlation over j = 1, …, M of
// f_j(t) and g_j(t) (Spearman, with average ranks for ties):
//
//	LDS(t) = ρ_Spearman( (f_1(t), …, f_M(t)), (g_1(t), …, g_M(t)) ).
//
// Compute reports LDS(t) for every target, their mean over the targets where
// it is defined, and the standard error of that mean, s/√count with s the
// sample standard deviation (n − 1 in the denominator). LDS(t) is undefined,
// reported as NaN and left out of the mean, when f_j(t) or g_j(t) is the same
// for every j: a rank correlation with a constant has no value, and counting
// it as 0 would pull the mean towards 0 for a reason that has nothing to do
// with the scores.
//
// Spearman's ρ is invariant to any increasing transformation of either side,
// so the scale of τ (TRAK's scores are not in units of the output) and any
// offset shared by all subsets (every subset has the same size k) do not
// matter; only the order of the predicted outputs does.
//
// # Layouts
//
// Scores are trak's score matrix as the store writes it (scores/<exp>.npy,
// see internal/score and docs/store.md): N × T float32, row-major, train ×
// target, so τ(t, i) = scores[i·T + t]. A positive score means that train
// row i raised the output on target t, so the predicted output of a subset
// adds its rows' scores with a plus sign. Model outputs are M × T float64,
// row-major, subset × target: f_j(t) = outputs[j·T + t]. Every sum is in
// float64.
//
// # Subsets
//
// Subset j is a pure function of (seed, j, N, α): it is drawn by a partial
// Fisher–Yates shuffle from a PCG generator seeded with seed and j alone, so
// drawing more subsets later (M+1, …) never changes the earlier ones, and
// subset models already trained stay valid.
//
// # Reports
//
// WriteTSV writes LDS(t) per target as a table and PlotPNG draws their
// histogram with the mean, using the standard library only.
package lds
