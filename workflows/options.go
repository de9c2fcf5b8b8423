package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"filesight/internal/provider"
)

// JobSpec is one ML job of a pipeline.
type JobSpec struct {
	// Name identifies the job within the run (progress, idempotency key,
	// status messages). Unique per pipeline.
	Name string `json:"name"`
	// Provider is the registered provider name ("mlengine").
	Provider string   `json:"provider"`
	Analyses []string `json:"analyses"`
	// Timeout is this job's deadline from its submission; zero means
	// Options.JobTimeout when the run sets it, else the provider's own
	// deadline (its worker configuration), else DefaultJobTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// PollInterval is the least pause between two status reads of this
	// job; zero means the provider's own (its worker configuration), if
	// any. The run's PollMaxDelay is raised to it when lower.
	PollInterval time.Duration `json:"poll_interval,omitempty"`
}

// Options tune one run. The zero value of every field means "the default",
// so a starter sends only what it wants to change (usually nothing).
type Options struct {
	// MaxSizeBytes: larger files end with a status card and no ML job.
	MaxSizeBytes int64 `json:"max_size_bytes,omitempty"`
	// VideoExtensions and AudioExtensions (lower case, no dot) decide the
	// media kind; anything else is unsupported.
	VideoExtensions []string `json:"video_extensions,omitempty"`
	AudioExtensions []string `json:"audio_extensions,omitempty"`
	// VideoJobs and AudioJobs are the pipelines per media kind.
	VideoJobs []JobSpec `json:"video_jobs,omitempty"`
	AudioJobs []JobSpec `json:"audio_jobs,omitempty"`
	// JobTimeout is each job's deadline, counted from its submission. On
	// the deadline the job is cancelled at the provider.
	JobTimeout time.Duration `json:"job_timeout,omitempty"`
	// PollMinDelay and PollMaxDelay bound the time between two status
	// polls of a running job (the provider's Retry-After is clamped to it).
	PollMinDelay time.Duration `json:"poll_min_delay,omitempty"`
	PollMaxDelay time.Duration `json:"poll_max_delay,omitempty"`
	// MaxResubmissions is how many times a job that fails with an error its
	// provider calls retryable (restarted too often, media fetch hit 5xx or
	// timeouts) is submitted again, as a new job, within its original
	// deadline. nil means DefaultMaxResubmissions; 0 disables resubmission.
	MaxResubmissions *int `json:"max_resubmissions,omitempty"`
}

// Defaults. See docs/workflow.md for the reasoning.
const (
	DefaultMaxSizeBytes = 4 << 30 // 4 GiB
	DefaultJobTimeout   = 4 * time.Hour
	DefaultPollMinDelay = 2 * time.Second
	DefaultPollMaxDelay = time.Minute
	// DefaultMaxResubmissions: one more try after a retryable job failure.
	DefaultMaxResubmissions = 1
	// MaxResubmissionsLimit bounds MaxResubmissions: a job failing
	// retryably this often is not going to succeed now.
	MaxResubmissionsLimit = 5
)

// DefaultVideoExtensions and DefaultAudioExtensions are the supported file types.
func DefaultVideoExtensions() []string {
	return []string{"mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "wmv", "flv", "3gp", "ts"}
}

func DefaultAudioExtensions() []string {
	return []string{"mp3", "wav", "m4a", "aac", "flac", "ogg", "oga", "opus", "wma", "aif", "aiff"}
}

// DefaultVideoJobs is one mlengine job doing every analysis: one download
// and one decode pass serve all of them.
func DefaultVideoJobs() []JobSpec {
	return []JobSpec{{Name: "mlengine", Provider: "mlengine", Analyses: []string{
		provider.AnalysisMedia, provider.AnalysisScenes, provider.AnalysisOCR, provider.AnalysisTranscript,
		provider.AnalysisKeywords, provider.AnalysisLoudness, provider.AnalysisSilences,
	}}}
}

// DefaultAudioJobs drops the visual analyses.
func DefaultAudioJobs() []JobSpec {
	return []JobSpec{{Name: "mlengine", Provider: "mlengine", Analyses: []string{
		provider.AnalysisMedia, provider.AnalysisTranscript, provider.AnalysisKeywords,
		provider.AnalysisLoudness, provider.AnalysisSilences,
	}}}
}

// withDefaults fills every zero field. It is pure, so calling it in
// workflow code is deterministic.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxSizeBytes <= 0 {
		r.MaxSizeBytes = DefaultMaxSizeBytes
	}
	if len(r.VideoExtensions) == 0 {
		r.VideoExtensions = DefaultVideoExtensions()
	}
	if len(r.AudioExtensions) == 0 {
		r.AudioExtensions = DefaultAudioExtensions()
	}
	if len(r.VideoJobs) == 0 {
		r.VideoJobs = DefaultVideoJobs()
	}
	if len(r.AudioJobs) == 0 {
		r.AudioJobs = DefaultAudioJobs()
	}
	if r.JobTimeout <= 0 {
		r.JobTimeout = DefaultJobTimeout
	}
	if r.PollMinDelay <= 0 {
		r.PollMinDelay = DefaultPollMinDelay
	}
	if r.PollMaxDelay <= 0 {
		r.PollMaxDelay = DefaultPollMaxDelay
	}
	if r.PollMaxDelay < r.PollMinDelay {
		r.PollMaxDelay = r.PollMinDelay
	}
	if r.MaxResubmissions == nil {
		r.MaxResubmissions = new(DefaultMaxResubmissions)
	}
	return r
}

// maxResubmissions is MaxResubmissions after withDefaults.
func (o Options) maxResubmissions() int {
	if o.MaxResubmissions == nil {
		return DefaultMaxResubmissions
	}
	return *o.MaxResubmissions
}

// validate rejects pipelines the workflow cannot run.
func (o Options) validate() error {
	if n := o.maxResubmissions(); n < 0 || n > MaxResubmissionsLimit {
		return fmt.Errorf("max_resubmissions %d is not within 0–%d", n, MaxResubmissionsLimit)
	}
	for _, jobs := range [][]JobSpec{o.VideoJobs, o.AudioJobs} {
		var names []string
		for _, j := range jobs {
			if j.Name == "" || j.Provider == "" || len(j.Analyses) == 0 {
				return fmt.Errorf("job %q: name, provider and analyses are required", j.Name)
			}
			if j.Timeout < 0 || j.PollInterval < 0 {
				return fmt.Errorf("job %q: timeout and poll_interval must not be negative", j.Name)
			}
			if slices.Contains(names, j.Name) {
				return fmt.Errorf("job name %q appears twice", j.Name)
			}
			names = append(names, j.Name)
		}
	}
	return nil
}

// classify picks the media kind and, for unsupported files, says why in
// words fit for a status card.
func (o Options) classify(name, ext string, size int64) (kind MediaKind, reason string) {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	if ext == "" {
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			ext = strings.ToLower(name[i+1:])
		}
	}
	switch {
	case slices.Contains(o.VideoExtensions, ext):
		kind = MediaVideo
	case slices.Contains(o.AudioExtensions, ext):
		kind = MediaAudio
	case ext == "":
		return MediaUnsupported, "This file has no extension, so it is not recognised as audio or video."
	default:
		return MediaUnsupported, fmt.Sprintf("Files of type .%s are not audio or video, so there is nothing to analyse.", ext)
	}
	if size == 0 {
		return MediaUnsupported, "This file is empty."
	}
	if size > o.MaxSizeBytes {
		return MediaUnsupported, fmt.Sprintf("This file is %s; files larger than %s are not analysed.", humanBytes(size), humanBytes(o.MaxSizeBytes))
	}
	return kind, ""
}

func (o Options) jobsFor(kind MediaKind) []JobSpec {
	switch kind {
	case MediaVideo:
		return o.VideoJobs
	case MediaAudio:
		return o.AudioJobs
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
