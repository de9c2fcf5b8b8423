package mlengine

import (
	"context"
	"errors"

	"filesight/internal/analyze"
	"filesight/internal/provider"
)

// RealAnalyzer runs the real analyzers of internal/analyze (ffprobe, ffmpeg,
// pocketsphinx, tesseract, keywords).
func RealAnalyzer() Analyzer { return AnalyzerFunc(runAnalyze) }

func defaultAnalyzer() Analyzer { return RealAnalyzer() }

func runAnalyze(ctx context.Context, t Task) (*Output, error) {
	var progress func(analyze.Progress)
	if t.Progress != nil {
		progress = func(p analyze.Progress) {
			t.Progress(Progress{Analysis: p.Analysis, State: p.State, Fraction: p.Fraction})
		}
	}
	out, err := analyze.Run(ctx, analyze.Options{
		Input: t.Input, WorkDir: t.WorkDir, Analyses: t.Analyses, Concurrency: t.Concurrency,
		MaxDuration: t.MaxDuration, Progress: progress, Logger: t.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Output{Result: out.Result, States: out.States, Errors: out.Errors, Artifacts: out.Artifacts}, nil
}

// analyzeError maps an internal/analyze whole-job error (media too long,
// unsupported media, ...) to a job error; nil if err is not one.
func analyzeError(err error) *provider.JobError {
	var ae *analyze.Error
	if errors.As(err, &ae) {
		return &provider.JobError{Code: ae.Code, Message: ae.Message, Retryable: ae.Retryable}
	}
	return nil
}
