package whisper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/provider"
	"filesight/internal/provider/claimcheck"
	"filesight/internal/provider/httpjson"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
)

// maxServerDelay caps a Retry-After honoured through NextRetryDelay.
const maxServerDelay = 5 * time.Minute

// Jobs holds what the job's activity needs; register it on the workers of
// the provider's task queue with Register.
type Jobs struct {
	cfg    Config
	store  claimcheck.Store
	sealer *tokenseal.Sealer
	media  *http.Client
	api    *httpjson.Client
	log    *slog.Logger
	// TempDir holds downloads while they are sent (default os.TempDir()).
	tempDir string
}

// JobsOptions are the optional parts of Jobs.
type JobsOptions struct {
	// HTTPClient is used for the media and for the endpoint; the default
	// has no overall timeout (the attempt's StartToClose bounds it) and
	// a response header timeout of the attempt timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	TempDir    string
}

// NewJobs returns the job's activity host; cfg must be valid; sealer opens
// the read tokens the provider sealed (the same keys).
func NewJobs(cfg Config, store claimcheck.Store, sealer *tokenseal.Sealer, opts JobsOptions) *Jobs {
	if opts.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.AttemptTimeout
		opts.HTTPClient = &http.Client{Transport: t}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	j := &Jobs{cfg: cfg, store: store, sealer: sealer, media: opts.HTTPClient, log: opts.Logger, tempDir: opts.TempDir}
	j.api = &httpjson.Client{
		Service: "the transcription server", HTTP: opts.HTTPClient, MaxBodyBytes: cfg.MaxResponseBytes, ParseError: parseError,
		Secrets: func() []secret.String { return []secret.String{cfg.APIKey} },
	}
	return j
}

// String describes the jobs without the key.
func (j *Jobs) String() string { return "whisper.Jobs{" + j.cfg.String() + "}" }

// Register registers the job workflow and its activity (worker.Registry is
// what a worker.Worker offers).
func (j *Jobs) Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(TranscriptionJob, workflow.RegisterOptions{Name: JobWorkflowName})
	r.RegisterActivityWithOptions(j.Transcribe, activity.RegisterOptions{Name: ActivityName})
}

// heartbeat is the activity's heartbeat details.
type heartbeat struct {
	Stage string `json:"stage"`
	Bytes int64  `json:"bytes,omitempty"`
}

// Transcribe is one attempt of a job: download the media (size-limited,
// to a temporary file), send it to the endpoint, store the result. It
// heartbeats from start to end, so a crashed worker's attempt is retried
// elsewhere after HeartbeatTimeout, and a cancelled job stops it.
func (j *Jobs) Transcribe(ctx context.Context, in TranscribeInput) (JobOutput, error) {
	var stage atomic.Value
	var got atomic.Int64
	stage.Store("downloading")
	stop := j.heartbeats(ctx, func() heartbeat { return heartbeat{Stage: stage.Load().(string), Bytes: got.Load()} })
	defer stop()

	token, err := j.mediaToken(in)
	if err != nil {
		return JobOutput{}, err
	}
	path, name, size, err := j.fetchMedia(ctx, in.MediaURL, token, &got)
	if err != nil {
		return JobOutput{}, err
	}
	defer os.Remove(path)
	stage.Store("transcribing")
	v, err := j.send(ctx, path, name, size)
	if err != nil {
		return JobOutput{}, err
	}
	res := toResult(v)
	b, err := json.Marshal(res)
	if err != nil {
		return JobOutput{}, permanent(ErrTypeBadAnswer, "the transcription could not be encoded", false)
	}
	stage.Store("storing")
	if err := j.store.Put(ctx, resultKey(in.JobID), b); err != nil {
		j.log.ErrorContext(ctx, "storing a transcription failed", "job", in.JobID, "error", err)
		return JobOutput{}, retryable(ErrTypeStore, "the transcription could not be stored; retrying", 0)
	}
	j.log.InfoContext(ctx, "transcription stored", "job", in.JobID, "media_bytes", size, "words", len(res.Transcript.Words), "duration", v.Duration)
	return JobOutput{Words: len(res.Transcript.Words), Duration: v.Duration, Language: v.Language}, nil
}

// resultKey is the store key of a job's result.
func resultKey(jobID string) string { return "whisper-result/" + jobID }

// heartbeats records a heartbeat at once and then every third of the
// heartbeat timeout until stop is called.
func (j *Jobs) heartbeats(ctx context.Context, details func() heartbeat) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	every := j.cfg.HeartbeatTimeout / 3
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 {
		every = hb / 3
	}
	every = max(every, 100*time.Millisecond)
	activity.RecordHeartbeat(ctx, details())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done) }
}

// permanent is a failure no retry of this job can cure. resubmit says
// whether a new job (with a fresh read token) may succeed.
func permanent(typ, msg string, resubmit bool) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Details:      []any{provider.JobError{Code: typ, Message: msg, Retryable: resubmit}},
	})
}

// retryable is a transient failure, retried after the server's delay.
func retryable(typ, msg string, after time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NextRetryDelay: min(after, maxServerDelay),
		Details:        []any{provider.JobError{Code: typ, Message: msg, Retryable: true}},
	})
}

// mediaToken opens the job's sealed read token. A key this worker lacks is
// retried (another worker of the queue may have it); a value that fails
// authentication cannot succeed anywhere.
func (j *Jobs) mediaToken(in TranscribeInput) (secret.String, error) {
	if j.sealer == nil {
		return "", retryable(ErrTypeUnavailable, "this worker cannot open read tokens (no token sealing keys)", 0)
	}
	tok, err := j.sealer.Open(in.SealedMediaToken, MediaTokenLabel(in.JobID))
	switch {
	case errors.Is(err, tokenseal.ErrUnknownKey):
		return "", retryable(ErrTypeUnavailable, "the read token was sealed with a key this worker does not have", 0)
	case err != nil:
		return "", permanent(ErrTypeMediaRejected, "the job's read token cannot be opened", false)
	}
	return tok, nil
}

// fetchMedia downloads the media with the read token as a bearer token
// (Box's download answers with a redirect to a pre-signed URL, which Go
// follows without the header). It refuses media over MaxMediaBytes before
// and while reading.
func (j *Jobs) fetchMedia(ctx context.Context, mediaURL string, token secret.String, got *atomic.Int64) (path, name string, size int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mediaURL, nil)
	if err != nil {
		return "", "", 0, permanent(ErrTypeMediaRejected, "the media URL is not valid", false)
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := j.media.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", 0, ctx.Err()
		}
		return "", "", 0, retryable(ErrTypeUnavailable, "the media could not be fetched: "+provider.Redact(err.Error(), token), 0)
	}
	defer resp.Body.Close()
	limit := j.cfg.MaxMediaBytes
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusAccepted:
		// Box: the content is not ready yet; come back after Retry-After.
		return "", "", 0, retryable(ErrTypeUnavailable, "the media is not ready yet", provider.RetryAfter(resp.Header))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", "", 0, permanent(ErrTypeMediaUnauthorized, fmt.Sprintf("the read token was refused when fetching the media (HTTP %d)", resp.StatusCode), true)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return "", "", 0, permanent(ErrTypeMediaNotFound, "the media no longer exists", false)
	case httpjson.Retryable(resp.StatusCode):
		return "", "", 0, retryable(ErrTypeUnavailable, fmt.Sprintf("fetching the media failed (HTTP %d)", resp.StatusCode), provider.RetryAfter(resp.Header))
	default:
		return "", "", 0, permanent(ErrTypeMediaRejected, fmt.Sprintf("fetching the media was refused (HTTP %d)", resp.StatusCode), false)
	}
	if resp.ContentLength > limit {
		return "", "", 0, tooLarge(limit)
	}
	f, err := os.CreateTemp(j.tempDir, "whisper-media-*")
	if err != nil {
		return "", "", 0, retryable(ErrTypeUnavailable, "no room for the media on this worker", 0)
	}
	n, err := io.Copy(f, io.LimitReader(countingReader{resp.Body, got}, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && ctx.Err() != nil:
		os.Remove(f.Name())
		return "", "", 0, ctx.Err()
	case err != nil:
		os.Remove(f.Name())
		return "", "", 0, retryable(ErrTypeUnavailable, "the media download broke off: "+provider.Redact(err.Error(), token), 0)
	case n > limit:
		os.Remove(f.Name())
		return "", "", 0, tooLarge(limit)
	case n == 0:
		os.Remove(f.Name())
		return "", "", 0, permanent(ErrTypeUnsupportedMedia, "the media is empty", false)
	}
	return f.Name(), mediaName(resp.Header), n, nil
}

func tooLarge(limit int64) error {
	size := fmt.Sprintf("%d bytes", limit)
	if limit >= 1<<20 {
		size = fmt.Sprintf("%d MiB", limit>>20)
	}
	return permanent(ErrTypeMediaTooLarge, "the media is larger than the transcription server accepts ("+size+")", false)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// mediaName is the file name sent with the media: servers identify the
// format by its extension. It comes from Content-Disposition (Box sends the
// file's name), else from the content type; only the extension is kept,
// so the file's name does not leave filesight.
func mediaName(h http.Header) string {
	ext := ""
	if _, params, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		ext = strings.ToLower(filepath.Ext(params["filename"]))
	}
	if ext == "" {
		if ct, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && ct != "application/octet-stream" {
			if exts, _ := mime.ExtensionsByType(ct); len(exts) > 0 {
				ext = exts[0]
			}
		}
	}
	if ext == "" || len(ext) > 6 || strings.ContainsAny(ext, `/\"`) {
		return "media"
	}
	return "media" + ext
}

// send posts the file to the endpoint as multipart/form-data, streamed
// from disk with its exact length.
func (j *Jobs) send(ctx context.Context, path, name string, size int64) (*VerboseJSON, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	fields := [][2]string{{"model", j.cfg.Model}, {"response_format", "verbose_json"}, {"temperature", "0"}}
	if j.cfg.Language != "" {
		fields = append(fields, [2]string{"language", j.cfg.Language})
	}
	if j.cfg.Prompt != "" {
		fields = append(fields, [2]string{"prompt", j.cfg.Prompt})
	}
	fields = append(fields, [2]string{"timestamp_granularities[]", "segment"})
	if j.cfg.WordTimestamps {
		fields = append(fields, [2]string{"timestamp_granularities[]", "word"})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, permanent(ErrTypeRejected, "building the request failed", false)
		}
	}
	ph := textproto.MIMEHeader{}
	ph.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	ph.Set("Content-Type", "application/octet-stream")
	if _, err := mw.CreatePart(ph); err != nil {
		return nil, permanent(ErrTypeRejected, "building the request failed", false)
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	f, err := os.Open(path)
	if err != nil {
		return nil, retryable(ErrTypeUnavailable, "the downloaded media could not be read", 0)
	}
	defer f.Close()
	hdr := http.Header{"Content-Type": {mw.FormDataContentType()}}
	if !j.cfg.APIKey.IsZero() {
		hdr.Set("Authorization", "Bearer "+j.cfg.APIKey.Reveal())
	}
	resp, err := j.api.Do(ctx, httpjson.Request{
		Op: "transcribe", Method: http.MethodPost, URL: j.cfg.URL + TranscriptionPath, Header: hdr,
		Body: io.MultiReader(&head, f, strings.NewReader(tail)), ContentLength: int64(head.Len()) + size + int64(len(tail)),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, endpointError(err)
	}
	var v VerboseJSON
	if err := resp.Decode("transcribe", &v); err != nil {
		return nil, retryable(ErrTypeBadAnswer, "the transcription server's answer is not verbose_json", 0)
	}
	if v.Words == nil && v.Segments == nil && strings.TrimSpace(v.Text) != "" {
		return nil, permanent(ErrTypeBadAnswer, "the transcription server answered without timestamps (does it support response_format=verbose_json?)", false)
	}
	return &v, nil
}

// endpointError classifies the endpoint's error answer.
func endpointError(err error) error {
	pe, ok := provider.AsError(err)
	if !ok {
		return retryable(ErrTypeUnavailable, "the transcription server failed", 0)
	}
	msg := pe.Message // "the transcription server: ..."
	switch {
	case pe.Code == "insufficient_quota":
		return permanent(ErrTypeQuotaExceeded, msg, false)
	case pe.Retryable:
		return retryable(ErrTypeUnavailable, msg, pe.RetryAfter)
	case pe.StatusCode == http.StatusRequestEntityTooLarge:
		return permanent(ErrTypeMediaTooLarge, msg, false)
	case pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden:
		return permanent(ErrTypeProviderAuth, msg, false)
	case pe.StatusCode == http.StatusBadRequest || pe.StatusCode == http.StatusUnsupportedMediaType || pe.StatusCode == http.StatusUnprocessableEntity:
		return permanent(ErrTypeUnsupportedMedia, msg, false)
	}
	return permanent(ErrTypeRejected, msg, false)
}

// toResult maps verbose_json. Word confidences come from the segment the
// word starts in (exp of its average log-probability); without word
// timestamps, each segment's time is shared out among its words.
func toResult(v *VerboseJSON) *provider.Result {
	tr := &provider.Transcript{Text: strings.TrimSpace(v.Text), Words: []provider.Word{}}
	conf := func(t float64) float64 {
		for _, s := range v.Segments {
			if t >= s.Start && t < s.End {
				return min(max(math.Exp(s.AvgLogprob), 0), 1)
			}
		}
		return 0
	}
	if len(v.Words) > 0 {
		for _, w := range v.Words {
			if text := strings.TrimSpace(w.Word); text != "" {
				tr.Words = append(tr.Words, provider.Word{Word: text, Start: w.Start, End: w.End, Confidence: conf(w.Start)})
			}
		}
	} else {
		for _, s := range v.Segments {
			tr.Words = append(tr.Words, provider.SpreadWords(s.Text, s.Start, s.End, min(max(math.Exp(s.AvgLogprob), 0), 1))...)
		}
	}
	dur := v.Duration
	if dur <= 0 && len(tr.Words) > 0 {
		dur = tr.Words[len(tr.Words)-1].End
	}
	return &provider.Result{Media: &provider.MediaInfo{Duration: dur, HasAudio: true}, Transcript: tr}
}
