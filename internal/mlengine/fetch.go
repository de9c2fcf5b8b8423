package mlengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"filesight/internal/egress"
	"filesight/internal/provider"
)

// Error codes of media download failures (job error codes).
const (
	CodeMediaUnauthorized = "media_unauthorized" // 401: token missing, invalid, expired or revoked
	CodeMediaForbidden    = "media_forbidden"    // 403: token lacks the scope or resource
	CodeMediaNotFound     = "media_not_found"    // 404/410
	CodeMediaRejected     = "media_fetch_rejected"
	CodeMediaNotReady     = "media_not_ready"    // 202 for too long
	CodeMediaFetchFailed  = "media_fetch_failed" // network/5xx/429 after retries
	CodeMediaTooLarge     = "media_too_large"
	CodeMediaURLRefused   = "media_url_refused" // the outbound URL policy refuses the host, or a redirect
	// CodeInsufficientStorage: the media would leave less free disk than
	// MLENGINE_MIN_FREE_BYTES (retryable).
	CodeInsufficientStorage = "insufficient_storage"
)

// errDiskLow stops a download that would leave less than MinFreeBytes free.
var errDiskLow = errors.New("free disk space below MLENGINE_MIN_FREE_BYTES")

// transientError is a download failure worth retrying.
type transientError struct {
	msg        string
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.msg }

// notReadyError is a 202 "content not ready yet" answer.
type notReadyError struct{ retryAfter time.Duration }

func (e *notReadyError) Error() string { return "media not ready yet (HTTP 202)" }

var errIdle = errors.New("media download stalled")

// redactURL drops the query, fragment and user info, which may carry
// credentials (pre-signed URLs, access_token parameters).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// fetchMedia downloads j's media to dest, retrying transient failures. It
// returns the size, or a *Failure, or ctx's error.
func (e *engine) fetchMedia(ctx context.Context, j *job, dest string) (int64, error) {
	failures, notReady := 0, 0
	for {
		n, err := e.fetchOnce(ctx, j, dest)
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		var wait time.Duration
		var te *transientError
		var nr *notReadyError
		switch {
		case errors.As(err, &nr):
			notReady++
			if notReady >= e.cfg.NotReadyAttempts {
				return 0, &Failure{Code: CodeMediaNotReady, Retryable: true,
					Message: fmt.Sprintf("media URL still answered 202 (not ready) after %d attempts", notReady)}
			}
			wait = nr.retryAfter
			if wait <= 0 {
				wait = e.cfg.FetchBackoff
			}
			wait = min(wait, e.cfg.MaxNotReadyWait)
		case errors.As(err, &te):
			failures++
			if failures >= e.cfg.FetchAttempts {
				return 0, &Failure{Code: CodeMediaFetchFailed, Retryable: true,
					Message: fmt.Sprintf("fetching media failed %d times, last: %s", failures, te.msg)}
			}
			wait = e.cfg.FetchBackoff << (failures - 1)
			if te.retryAfter > 0 {
				wait = min(te.retryAfter, e.cfg.MaxNotReadyWait)
			}
		default:
			return 0, err
		}
		e.log.Info("media not fetched yet, retrying", "job_id", j.ID, "media_url", redactURL(j.MediaURL), "reason", err.Error(), "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// idleReader calls touch on every read so a watchdog can spot a stalled body.
type idleReader struct {
	r     io.Reader
	touch func()
}

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.touch()
	return n, err
}

func (e *engine) fetchOnce(ctx context.Context, j *job, dest string) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(e.cfg.MediaIdleTimeout, func() { cancel(errIdle) })
	defer watchdog.Stop()
	touch := func() { watchdog.Reset(e.cfg.MediaIdleTimeout) }

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.MediaURL, nil)
	if err != nil {
		return 0, &Failure{Code: CodeMediaRejected, Message: "media URL is not a valid request URL"}
	}
	if !j.MediaToken.IsZero() {
		req.Header.Set("Authorization", "Bearer "+j.MediaToken.Reveal())
	}
	resp, err := e.mediaClient.Do(req)
	if err != nil {
		if errors.Is(err, egress.ErrRefused) {
			e.log.Warn("media URL refused by the outbound policy", "job_id", j.ID, "media_url", redactURL(j.MediaURL), "error", unwrapURLError(err).Error())
			return 0, &Failure{Code: CodeMediaURLRefused,
				Message: "the media URL, or a redirect from it, leads to a host that MLENGINE_ALLOWED_HOSTS does not allow"}
		}
		if errors.Is(context.Cause(ctx), errIdle) {
			return 0, &transientError{msg: "no response from media URL within " + e.cfg.MediaIdleTimeout.String()}
		}
		return 0, &transientError{msg: "requesting media: " + unwrapURLError(err).Error()}
	}
	defer resp.Body.Close()
	retryAfter := provider.RetryAfter(resp.Header)
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusAccepted:
		return 0, &notReadyError{retryAfter: retryAfter}
	case code == http.StatusUnauthorized:
		return 0, &Failure{Code: CodeMediaUnauthorized,
			Message: "media URL answered 401 Unauthorized: the read token is missing, invalid, expired or revoked"}
	case code == http.StatusForbidden:
		return 0, &Failure{Code: CodeMediaForbidden,
			Message: "media URL answered 403 Forbidden: the read token may not download this file"}
	case code == http.StatusNotFound || code == http.StatusGone:
		return 0, &Failure{Code: CodeMediaNotFound, Message: fmt.Sprintf("media URL answered %d: the file does not exist (or is not visible to the token)", code)}
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500:
		return 0, &transientError{msg: fmt.Sprintf("media URL answered %d", code), retryAfter: retryAfter}
	default:
		return 0, &Failure{Code: CodeMediaRejected, Message: fmt.Sprintf("media URL answered %d", code)}
	}
	limit := e.cfg.MaxMediaBytes
	if resp.ContentLength > limit {
		return 0, &Failure{Code: CodeMediaTooLarge,
			Message: fmt.Sprintf("media is larger than the limit of %d bytes (%d bytes)", limit, resp.ContentLength)}
	}
	if resp.ContentLength > 0 {
		if free := e.cfg.DiskFree(e.cfg.DataDir); free >= 0 && free-resp.ContentLength < e.cfg.MinFreeBytes {
			return 0, errDiskLow
		}
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create media file: %w", err)
	}
	w := &diskWriter{f: f, e: e}
	defer func() { e.downloadBytes.Add(-w.written) }()
	n, copyErr := io.Copy(w, io.LimitReader(idleReader{resp.Body, touch}, limit+1))
	if copyErr == nil && n > limit {
		// Reading stopped at the limit: the true size is unknown.
		copyErr = &Failure{Code: CodeMediaTooLarge, Message: fmt.Sprintf("media is larger than the limit of %d bytes", limit)}
	}
	if copyErr == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		copyErr = &transientError{msg: fmt.Sprintf("media body ended after %d of %d bytes", n, resp.ContentLength)}
	}
	if copyErr == nil {
		copyErr = f.Sync()
	}
	if err := f.Close(); err != nil && copyErr == nil {
		copyErr = fmt.Errorf("write media file: %w", err)
	}
	if copyErr != nil {
		os.Remove(part)
		var fl *Failure
		var te *transientError
		var de *diskError
		switch {
		case errors.As(copyErr, &fl), errors.As(copyErr, &te):
			return 0, copyErr
		case errors.Is(copyErr, errDiskLow):
			return 0, errDiskLow
		case errors.As(copyErr, &de):
			return 0, copyErr
		case errors.Is(context.Cause(ctx), errIdle):
			return 0, &transientError{msg: fmt.Sprintf("media download stalled for %s after %d bytes", e.cfg.MediaIdleTimeout, n)}
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		default:
			return 0, &transientError{msg: fmt.Sprintf("reading media after %d bytes: %v", n, copyErr)}
		}
	}
	if err := os.Rename(part, dest); err != nil {
		os.Remove(part)
		return 0, fmt.Errorf("store media file: %w", err)
	}
	return n, nil
}

// diskCheckEvery is how many bytes a download writes between two looks at
// the free disk space.
const diskCheckEvery = 8 << 20

// diskWriter writes a download to its file: it marks write errors so they
// are not mistaken for network errors, counts what is written into the
// engine's downloadBytes, and stops (errDiskLow) when the disk's free space
// falls below MinFreeBytes, looking at it every diskCheckEvery bytes.
type diskWriter struct {
	f       *os.File
	e       *engine
	written int64
	checked int64 // written at the last look
}

func (w *diskWriter) Write(p []byte) (int, error) {
	if w.written == 0 || w.written-w.checked >= diskCheckEvery {
		w.checked = w.written
		if free := w.e.cfg.DiskFree(w.e.cfg.DataDir); free >= 0 && free-int64(len(p)) < w.e.cfg.MinFreeBytes {
			return 0, errDiskLow
		}
	}
	n, err := w.f.Write(p)
	w.written += int64(n)
	w.e.downloadBytes.Add(int64(n))
	if err != nil {
		err = &diskError{err}
	}
	return n, err
}

type diskError struct{ err error }

func (e *diskError) Error() string { return "write media file: " + e.err.Error() }
func (e *diskError) Unwrap() error { return e.err }

// unwrapURLError drops *url.Error's copy of the URL, which may carry
// credentials, keeping the cause.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
