package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
)

// viaHTTP runs one job through a real mlengine server started in this
// process: the media is served by a small bearer-protected file server on
// 127.0.0.1, submitted with the provider client, polled until it ends, and
// its result fetched over HTTP.
func viaHTTP(ctx context.Context, input, work string, concurrency int, logger *slog.Logger) (*provider.Result, *mlengineapi.Job, error) {
	apiKey, cbKey, mediaToken := randomHex(), randomHex(), randomHex()
	srv, err := mlengine.New(ctx, mlengine.Config{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(work, "mlengine"),
		APIKey: secret.String(apiKey), CallbackKey: secret.String(cbKey), Concurrency: concurrency,
		AllowedHosts: []string{"127.0.0.1"}, // the media server below
	}, logger)
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = srv.Serve(sctx, ln) }()

	mediaLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	media := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+mediaToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		f, err := os.Open(input)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		st, _ := f.Stat()
		http.ServeContent(w, r, filepath.Base(input), st.ModTime(), f)
	})}
	go func() { _ = media.Serve(mediaLn) }()
	defer media.Close()

	client := mlengineapi.New(mlengineapi.Config{BaseURL: "http://" + ln.Addr().String(), APIKey: secret.String(apiKey)})
	ref, err := client.Submit(ctx, provider.JobRequest{
		IdempotencyKey: "bench-" + randomHex()[:8],
		MediaURL:       "http://" + mediaLn.Addr().String() + "/media/" + filepath.Base(input),
		MediaToken:     secret.String(mediaToken),
		Analyses:       provider.AllAnalyses,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("submit: %w", err)
	}
	for {
		job, _, err := client.Job(ctx, ref)
		if err != nil {
			return nil, nil, fmt.Errorf("status: %w", err)
		}
		switch job.Status {
		case provider.StateSucceeded:
			res, err := client.Result(ctx, ref)
			if err != nil {
				return nil, nil, fmt.Errorf("result: %w", err)
			}
			return res, job, nil
		case provider.StateFailed, provider.StateCanceled:
			return nil, job, fmt.Errorf("job ended %s: %+v", job.Status, job.Error)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling interval
		}
	}
}

func randomHex() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
