package mlengine

import (
	"context"
	"log/slog"
	"time"

	"filesight/internal/provider"
)

// Analyzer runs the analyses of one job on a media file on disk. The
// production analyzer wraps internal/analyze; tests inject fakes.
//
// Analyze must stop every process it started, and return, once ctx is done.
// A whole-job failure is reported as a *Failure (code, message, retryable);
// any other error fails the job with code "internal".
type Analyzer interface {
	Analyze(ctx context.Context, task Task) (*Output, error)
}

// AnalyzerFunc adapts a function to Analyzer.
type AnalyzerFunc func(ctx context.Context, task Task) (*Output, error)

// Analyze calls f.
func (f AnalyzerFunc) Analyze(ctx context.Context, task Task) (*Output, error) { return f(ctx, task) }

// Task is one analysis run.
type Task struct {
	// Input is the downloaded media file.
	Input string
	// WorkDir is an empty directory for the run's temporary files and
	// artifacts; the engine removes it when the run ends.
	WorkDir  string
	Analyses []string
	// Concurrency is how many processes the run may use at once.
	Concurrency int
	MaxDuration time.Duration
	// Progress may be called from any goroutine.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Progress reports one analysis' state and completed fraction (0..1).
type Progress struct {
	Analysis string
	State    provider.State
	Fraction float64
}

// Output is what a run produced. Analyses that failed are named in Errors
// (and have State failed); the job still succeeds with the others.
type Output struct {
	Result provider.Result
	States map[string]provider.State
	Errors map[string]string
	// Artifacts maps an artifact name (as referenced from Result) to its file
	// path inside WorkDir.
	Artifacts map[string]string
}

// Failure is a whole-job failure with a stable code.
type Failure struct {
	Code      string
	Message   string
	Retryable bool
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }
