package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"filesight/internal/box"
	"filesight/internal/cluster"
	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/internal/temporalclient"
	"filesight/workflows"
)

// The starter figure: signed Box webhook deliveries from a load generator
// in this process, over loopback, to the real starter program, 32 at a
// time, against a loop that starts the same workflows (same IDs, same
// start request: the starter's own Service, without HTTP) directly, 32 at
// a time, in a second namespace of the same server. The worker is stopped
// first, so that neither side's workflows run.

const (
	starterConcurrency = 32
	baselineNamespace  = "bench-baseline"
)

type startSide struct {
	N         int
	Wall      time.Duration
	Rate      float64
	Latencies []time.Duration
}

func runStarter(ctx context.Context, out io.Writer, s *system, deliveries, rounds int) (figure, error) {
	if err := s.st.Kill("worker"); err != nil {
		return figure{}, err
	}
	base, err := baselineService(ctx, s)
	if err != nil {
		return figure{}, err
	}
	defer base.close()
	hooks := &webhookSender{
		url: "http://" + s.get("STARTER_ADDR") + "/webhooks/box",
		key: secret.String(s.get("BOX_WEBHOOK_PRIMARY_KEY")),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: starterConcurrency, MaxConnsPerHost: starterConcurrency, IdleConnTimeout: time.Minute}},
		folder: s.folder,
	}
	defer hooks.http.CloseIdleConnections()

	// Warm up both paths (connections, caches) on IDs of their own.
	if _, err := hooks.run(ctx, fileIDs(0, 64), starterConcurrency); err != nil {
		return figure{}, fmt.Errorf("warm-up deliveries: %w", err)
	}
	if _, err := base.run(ctx, fileIDs(0, 64), starterConcurrency); err != nil {
		return figure{}, fmt.Errorf("warm-up starts: %w", err)
	}
	var ss, bs []startSide
	for r := 1; r <= rounds; r++ {
		ids := fileIDs(r, deliveries)
		first, second := "starter", "direct"
		if r%2 == 0 {
			first, second = second, first
		}
		for _, side := range []string{first, second} {
			var sd startSide
			var err error
			if side == "starter" {
				sd, err = hooks.run(ctx, ids, starterConcurrency)
				ss = append(ss, sd)
			} else {
				sd, err = base.run(ctx, ids, starterConcurrency)
				bs = append(bs, sd)
			}
			if err != nil {
				return figure{}, fmt.Errorf("round %d, %s: %w", r, side, err)
			}
			progressf(out, "starter round %d, %s: %d starts in %s = %.0f/s, p50 %.1f ms, p99 %.1f ms", r, side, sd.N,
				sd.Wall.Round(time.Millisecond), sd.Rate, ms(percentile(sd.Latencies, 50)), ms(percentile(sd.Latencies, 99)))
		}
	}
	// One at a time: the latency each path adds when nothing waits.
	one, err := hooks.run(ctx, fileIDs(rounds+1, 100), 1)
	if err != nil {
		return figure{}, fmt.Errorf("deliveries one at a time: %w", err)
	}
	oneDirect, err := base.run(ctx, fileIDs(rounds+1, 100), 1)
	if err != nil {
		return figure{}, fmt.Errorf("direct starts one at a time: %w", err)
	}
	progressf(out, "starter one at a time: deliveries p50 %.1f ms, p99 %.1f ms; direct starts p50 %.1f ms, p99 %.1f ms",
		ms(percentile(one.Latencies, 50)), ms(percentile(one.Latencies, 99)), ms(percentile(oneDirect.Latencies, 50)), ms(percentile(oneDirect.Latencies, 99)))
	var sr, br, ratios []float64
	var sl, bl []time.Duration
	for i := range ss {
		sr, br = append(sr, ss[i].Rate), append(br, bs[i].Rate)
		ratios = append(ratios, ss[i].Rate/bs[i].Rate)
		sl, bl = append(sl, ss[i].Latencies...), append(bl, bs[i].Latencies...)
	}
	ratio, p99 := median(ratios), ms(percentile(sl, 99))
	var per []string
	for i := range ratios {
		per = append(per, fmt.Sprintf("%.0f/%.0f=%.2f", sr[i], br[i], ratios[i]))
	}
	return figure{
		Name: "starter",
		Line: fmt.Sprintf("deliveries=%d rounds=%d concurrency=%d deliveries_per_s=%.0f p50_ms=%.1f p99_ms=%.1f direct_starts_per_s=%.0f direct_p50_ms=%.1f direct_p99_ms=%.1f c1_p99_ms=%.1f direct_c1_p99_ms=%.1f ratio=%.2f",
			deliveries, rounds, starterConcurrency, median(sr), ms(percentile(sl, 50)), p99, median(br), ms(percentile(bl, 50)), ms(percentile(bl, 99)),
			ms(percentile(one.Latencies, 99)), ms(percentile(oneDirect.Latencies, 99)), ratio),
		Value:    fmt.Sprintf("%.0f deliveries/s, ack p50 %.1f ms, p99 %.1f ms", median(sr), ms(percentile(sl, 50)), p99),
		Baseline: fmt.Sprintf("%.0f starts/s, p50 %.1f ms, p99 %.1f ms", median(br), ms(percentile(bl, 50)), ms(percentile(bl, 99))),
		Target:   "ratio ≥ 0.8, p99 < 50 ms",
		Verdict:  verdictf(ratio >= 0.8 && p99 < 50, "ratio %.2f, p99 %.1f ms", ratio, p99),
		Notes: []string{fmt.Sprintf("per round (starter/direct per s): %s", strings.Join(per, ", ")),
			fmt.Sprintf("one at a time (100 each): deliveries acked p50 %.1f ms, p99 %.1f ms; direct starts p50 %.1f ms, p99 %.1f ms",
				ms(percentile(one.Latencies, 50)), ms(percentile(one.Latencies, 99)), ms(percentile(oneDirect.Latencies, 50)), ms(percentile(oneDirect.Latencies, 99)))},
	}, nil
}

// fileIDs are the file IDs of one round (round 0: the warm-up).
func fileIDs(round, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(800000000000 + round*1000000 + i)
	}
	return out
}

func versionOf(fileID string) string { return fileID + "7" }

// webhookSender posts signed FILE.UPLOADED deliveries.
type webhookSender struct {
	url    string
	key    secret.String
	http   *http.Client
	folder string
}

func (h *webhookSender) deliver(ctx context.Context, fileID string) error {
	body, err := json.Marshal(map[string]any{
		"type": "webhook_event", "id": uuid.NewString(), "created_at": time.Now().UTC().Format(time.RFC3339),
		"trigger": starter.TriggerFileUploaded, "webhook": map[string]string{"id": "1", "type": "webhook"},
		"created_by": map[string]string{"type": "user", "id": "1"},
		"source": map[string]any{"type": "file", "id": fileID, "name": "bench-" + fileID + ".mp4", "size": 1024,
			"file_version": map[string]string{"type": "file_version", "id": versionOf(fileID)},
			"parent":       map[string]string{"type": "folder", "id": h.folder}},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = box.SignWebhook(h.key, "", body, time.Now().UTC().Format(time.RFC3339), uuid.NewString())
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("delivery for file %s: HTTP %d %s", fileID, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

func (h *webhookSender) run(ctx context.Context, ids []string, conc int) (startSide, error) {
	return drive(ids, conc, func(id string) error { return h.deliver(ctx, id) })
}

// drive calls do for every id, conc at a time, and times each call and
// the whole.
func drive(ids []string, conc int, do func(string) error) (startSide, error) {
	lat := make([]time.Duration, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				errs[i] = do(ids[i])
				lat[i] = time.Since(t0)
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return startSide{}, err
	}
	return startSide{N: len(ids), Wall: wall, Rate: float64(len(ids)) / wall.Seconds(), Latencies: lat}, nil
}

// directStarts starts workflows in the baseline namespace through the
// starter's Service (the request the starter sends, minus HTTP).
type directStarts struct {
	tc  client.Client
	svc *starter.Service
}

func (d *directStarts) close() { d.tc.Close() }

func (d *directStarts) run(ctx context.Context, ids []string, conc int) (startSide, error) {
	return drive(ids, conc, func(id string) error {
		dec, err := d.svc.HandleFileEvent(ctx, starter.FileEvent{EventID: uuid.NewString(), Trigger: starter.TriggerFileUploaded,
			FileID: id, FileVersionID: versionOf(id), FileName: "bench-" + id + ".mp4", Size: 1024})
		if err == nil && dec.Outcome != starter.OutcomeStarted {
			err = fmt.Errorf("direct start of file %s: %s", id, dec.Outcome)
		}
		return err
	})
}

// baselineService registers the baseline namespace (with the FileID search
// attribute the starter sets) and returns a Service on it, with the same
// payload codec as the starter.
func baselineService(ctx context.Context, s *system) (*directStarts, error) {
	_, err := s.tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: baselineNamespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return nil, fmt.Errorf("registering namespace %s: %w", baselineNamespace, err)
	}
	var tcfg temporalclient.Config
	var ccfg codec.Config
	if err := config.LoadFrom(ctx, &tcfg, s.env); err != nil {
		return nil, err
	}
	if err := config.LoadFrom(ctx, &ccfg, s.env); err != nil {
		return nil, err
	}
	tcfg.Namespace = baselineNamespace
	kr, err := ccfg.Keyring()
	if err != nil {
		return nil, err
	}
	opts, err := tcfg.ClientOptions(quietSlog(), codec.NewDataConverter(kr, codec.Options{Compress: ccfg.Compress}))
	if err != nil {
		return nil, err
	}
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	d := &directStarts{tc: tc, svc: starter.NewService(tc, starter.Options{SetSearchAttributes: true})}
	// A new namespace is known to the frontend once its namespace cache
	// has refreshed (up to about 10 s); then its search attribute.
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := cluster.EnsureSearchAttributes(ctx, s.tc, baselineNamespace, cluster.SearchAttributes{workflows.SearchAttrFileID, workflows.SearchAttrStage})
		if err == nil {
			_, err = d.svc.Start(ctx, workflows.ProcessFileInput{FileID: "1", FileVersionID: fmt.Sprint(time.Now().UnixNano())})
		}
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			tc.Close()
			return nil, fmt.Errorf("namespace %s not usable: %w", baselineNamespace, err)
		}
		select {
		case <-ctx.Done():
			tc.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
