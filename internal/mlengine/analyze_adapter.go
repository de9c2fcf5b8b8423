package mlengine

import (
	"context"
	"errors"
	"log/slog"

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
	return &Output{Result: out.Result, States: out.States, Errors: analysisErrors(t.Logger, out.Errors), Artifacts: out.Artifacts}, nil
}

// analysisFailed are the fixed messages of analyses that failed on their
// own while the job went on: what the tool said goes to the log.
var analysisFailed = map[string]string{
	provider.AnalysisScenes:     "Scenes could not be detected.",
	provider.AnalysisOCR:        "On-screen text could not be read.",
	provider.AnalysisTranscript: "Speech could not be transcribed.",
	provider.AnalysisKeywords:   "Keywords could not be extracted.",
	provider.AnalysisLoudness:   "Loudness could not be measured.",
	provider.AnalysisSilences:   "Silences could not be detected.",
	provider.AnalysisMedia:      "The media could not be described.",
}

// analysisErrors logs the analyzers' own messages (tool output, paths) and
// returns fixed ones in their place.
func analysisErrors(log *slog.Logger, errs map[string]string) map[string]string {
	if len(errs) == 0 {
		return errs
	}
	if log == nil {
		log = slog.Default()
	}
	out := make(map[string]string, len(errs))
	for name, msg := range errs {
		log.Warn("analysis failed", "analysis", name, "error", msg)
		out[name] = analysisFailed[name]
		if out[name] == "" {
			out[name] = "The analysis failed."
		}
	}
	return out
}

// analyzeError maps an internal/analyze whole-job error (media too long,
// unsupported media, ...) to a job error with the fixed message for people;
// nil if err is not one. The detail stays in the error, which is logged.
func analyzeError(err error) *provider.JobError {
	var ae *analyze.Error
	if errors.As(err, &ae) {
		return &provider.JobError{Code: string(ae.Code), Message: ae.Message, Retryable: ae.Retryable && !ae.Code.Media()}
	}
	return nil
}
