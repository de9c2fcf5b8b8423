package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Output writes whole lines from several processes to one stream, each
// line prefixed with the process name (colored on a terminal), so the logs
// of each process stay distinguishable and lines never interleave.
type Output struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	width int
}

// NewOutput returns an Output over w; color adds ANSI colors to prefixes.
func NewOutput(w io.Writer, color bool) *Output { return &Output{w: w, color: color, width: 8} }

var palette = []string{"36", "33", "32", "35", "34", "31", "96", "93"}

// Prefixed returns a writer that prefixes each line with name.
func (o *Output) Prefixed(name string, colorIndex int) io.Writer {
	prefix := fmt.Sprintf("%-*s | ", o.width, name)
	if o.color {
		prefix = "\x1b[" + palette[colorIndex%len(palette)] + "m" + prefix + "\x1b[0m"
	}
	return &lineWriter{out: o, prefix: prefix}
}

// Printf writes one devstack line.
func (o *Output) Printf(format string, args ...any) {
	w := o.Prefixed("devstack", 7)
	fmt.Fprintf(w, format+"\n", args...)
}

type lineWriter struct {
	out    *Output
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a very long line without newline: flush it
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	_, _ = io.WriteString(l.out.w, l.prefix)
	_, _ = l.out.w.Write(line)
	_, _ = io.WriteString(l.out.w, "\n")
}

// Proc is one supervised child process.
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string
	Dir  string
	// LogPath, when set, receives the raw output too (appended).
	LogPath string
	// Credential, when set, runs the process as another user.
	Credential *syscall.Credential
	// StopSignal is what Stop sends first (zero: SIGTERM).
	StopSignal syscall.Signal

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	err     error
	stopped bool
	mu      sync.Mutex
}

// Start starts the process in its own process group, so the terminal's
// Ctrl-C reaches only devstack, which then stops children in order; the
// kernel kills the child if devstack itself dies (Pdeathsig).
func (p *Proc) Start(out io.Writer) error {
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Dir = p.Dir
	cmd.SysProcAttr = sysProcAttr()
	cmd.SysProcAttr.Credential = p.Credential
	w := out
	if p.LogPath != "" {
		f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("%s: opening log %s: %w", p.Name, p.LogPath, err)
		}
		fmt.Fprintf(f, "----- %s started %s -----\n", p.Name, time.Now().Format(time.RFC3339))
		p.logFile = f
		w = io.MultiWriter(out, f)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		if p.logFile != nil {
			p.logFile.Close()
		}
		return fmt.Errorf("starting %s (%s): %w", p.Name, p.Path, err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if p.logFile != nil {
			p.logFile.Close()
		}
		close(p.done)
	}()
	return nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error once Done is closed.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Pid is the process id (0 before Start).
func (p *Proc) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stopping reports whether Stop was called (an exit is then expected).
func (p *Proc) Stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// Stop sends StopSignal (SIGTERM) to the process group and waits up to
// grace for the exit; then it sends SIGKILL. It returns the exit error
// unless the exit was caused by the signal.
func (p *Proc) Stop(grace time.Duration) error {
	if p.cmd == nil {
		return nil
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	sig := p.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.Name, grace)
}

// Kill kills the process group at once (SIGKILL, as a crash would) and
// waits for the exit, which counts as expected (Stopping).
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *Proc) exitErr() error {
	err := p.Err()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGINT || ws.Signal() == p.StopSignal) {
			return nil
		}
	}
	return err
}

// waitFor polls check every interval until it succeeds, ctx ends, the
// process exits, or timeout passes.
func waitFor(ctx context.Context, p *Proc, what string, timeout time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if p != nil {
			select {
			case <-p.Done():
				return fmt.Errorf("%s exited while waiting for %s: %v", p.Name, what, p.Err())
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TailFile returns the last n lines of a file, for error reports (empty
// when it cannot be read).
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
