package analyze

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runner starts external tools with a bound on how many run at once. Each
// tool runs in its own process group; when the context ends the whole group
// is killed, so nothing a tool started outlives the job.
type runner struct {
	slots  chan struct{}
	logger *slog.Logger
	// dir and env are every tool's working directory and environment
	// (confine); media is the job's media file once probed (probe).
	dir   string
	env   []string
	media *mediaInput
	// limits bound the tools' time (Limits.ToolTimeout for each run of
	// output, the decode budget for the pass).
	limits Limits

	mu     sync.Mutex
	maxRSS int64 // largest child max-RSS seen, KiB
	usage  map[string]time.Duration
	cpu    map[string]time.Duration
}

func newRunner(concurrency int, logger *slog.Logger) *runner {
	return &runner{slots: make(chan struct{}, concurrency), logger: logger, usage: map[string]time.Duration{}, cpu: map[string]time.Duration{}}
}

// acquire takes a process slot, or fails when ctx ends first.
func (r *runner) acquire(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (r *runner) release() { <-r.slots }

// command prepares name with args in its own process group, killed as a
// group when ctx ends.
func (r *runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = r.dir, slices.Clip(r.env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// Negative pid: the whole process group.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// finished records resource use of a tool that has exited.
func (r *runner) finished(name string, cmd *exec.Cmd, started time.Time) {
	if cmd.ProcessState == nil {
		return
	}
	wall := time.Since(started)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > r.maxRSS {
		r.maxRSS = ru.Maxrss
	}
	r.usage[name] += wall
	r.cpu[name] += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.logger.Debug("tool finished", "tool", name, "wall", wall, "user", cmd.ProcessState.UserTime(), "exit", cmd.ProcessState.ExitCode())
}

// output runs a short tool to completion with a process slot and returns
// its stdout (bounded by maxOut bytes) or an error with the end of stderr.
// env adds variables to the tools' minimal environment.
func (r *runner) output(ctx context.Context, maxOut int64, env []string, name string, args ...string) ([]byte, error) {
	out, _, err := r.outputStderr(ctx, maxOut, env, name, args...)
	return out, err
}

// outputStderr is output that also returns the end of stderr.
func (r *runner) outputStderr(ctx context.Context, maxOut int64, env []string, name string, args ...string) ([]byte, string, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, "", err
	}
	defer r.release()
	if r.limits.ToolTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.limits.ToolTimeout)
		defer cancel()
	}
	cmd := r.command(ctx, name, args...)
	cmd.Env = append(cmd.Env, env...)
	var stdout limitedBuffer
	stdout.limit = maxOut
	var stderr tailBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	r.finished(name, cmd, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, stderr.String(), context.Cause(ctx)
		}
		return nil, stderr.String(), toolError(name, err, stderr.String())
	}
	if stdout.truncated {
		return nil, stderr.String(), fmt.Errorf("%s: output larger than %d bytes", name, maxOut)
	}
	return stdout.Bytes(), stderr.String(), nil
}

func toolError(name string, err error, stderr string) error {
	stderr = strings.TrimSpace(stderr)
	if stderr == "" {
		return fmt.Errorf("%s failed: %w", name, err)
	}
	// Keep the message readable: the last few lines say what went wrong.
	lines := strings.Split(stderr, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return fmt.Errorf("%s failed: %w: %s", name, err, strings.Join(lines, " | "))
}

// tailBuffer keeps only the last tailSize bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailSize = 8 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// limitedBuffer keeps at most limit bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	limit     int64
	truncated bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	room := l.limit - int64(l.Len())
	if int64(len(p)) > room {
		l.truncated = true
		if room > 0 {
			l.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return l.Buffer.Write(p)
}

// scanLines calls fn for every line of r (split on \n or \r), cutting lines
// longer than maxLine so that a tool's output never grows memory without
// bound. It returns when r is exhausted.
func scanLines(r io.Reader, maxLine int, fn func(line string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	overlong := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			if len(cur) > 0 {
				fn(string(cur))
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if b == '\n' || b == '\r' {
			if len(cur) > 0 {
				fn(string(cur))
			}
			cur = cur[:0]
			overlong = false
			continue
		}
		if overlong {
			continue
		}
		if len(cur) >= maxLine {
			overlong = true
			continue
		}
		cur = append(cur, b)
	}
}
