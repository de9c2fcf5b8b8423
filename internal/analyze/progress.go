package analyze

import (
	"math"
	"sync"

	"filesight/internal/provider"
)

// progressTracker turns stage progress into the job's overall fraction and
// reports it (at most once per percent) and per-analysis state changes.
type progressTracker struct {
	fn func(Progress)

	mu       sync.Mutex
	duration float64
	wDecode  float64
	wASR     float64
	wOCR     float64
	decode   float64 // 0..1
	asr      float64 // seconds of audio decoded
	ocrTotal int
	ocrRead  int
	last     float64
}

// Stage weights, roughly their share of CPU time on talk-like media.
const (
	weightProbe  = 0.05
	weightDecode = 1.0
	weightASR    = 2.0
	weightOCR    = 0.5
)

func newProgressTracker(fn func(Progress)) *progressTracker {
	return &progressTracker{fn: fn}
}

func (p *progressTracker) setWeights(decode, asr, ocr bool, duration float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.duration = duration
	if decode {
		p.wDecode = weightDecode
	}
	if asr {
		p.wASR = weightASR
	}
	if ocr {
		p.wOCR = weightOCR
	}
	p.emitLocked(false)
}

func (p *progressTracker) analysis(name string, s provider.State) {
	if p.fn == nil {
		return
	}
	f := 0.0
	if s.Terminal() || s == provider.StateSkipped {
		f = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(Progress{Analysis: name, State: s, Fraction: f})
}

func (p *progressTracker) decoded(t float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := 1.0
	if !math.IsInf(t, 1) {
		if p.duration <= 0 {
			return
		}
		f = math.Min(0.99, t/p.duration)
	}
	if f > p.decode {
		p.decode = f
		p.emitLocked(false)
	}
}

func (p *progressTracker) asrDone(seconds float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asr += seconds
	p.emitLocked(false)
}

func (p *progressTracker) ocrPlanned(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ocrTotal = n
	p.emitLocked(false)
}

func (p *progressTracker) ocrDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ocrRead++
	p.emitLocked(false)
}

func (p *progressTracker) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emitLocked(true)
}

func (p *progressTracker) emitLocked(final bool) {
	if p.fn == nil {
		return
	}
	f := 1.0
	if !final {
		done := weightProbe + p.wDecode*p.decode
		if p.duration > 0 {
			done += p.wASR * math.Min(1, p.asr/p.duration)
		}
		if p.ocrTotal > 0 {
			done += p.wOCR * float64(p.ocrRead) / float64(p.ocrTotal)
		}
		f = math.Min(0.99, done/(weightProbe+p.wDecode+p.wASR+p.wOCR))
	}
	if f < p.last+0.01 && !(final && p.last < 1) {
		return
	}
	p.last = f
	p.fn(Progress{State: provider.StateRunning, Fraction: math.Round(f*1000) / 1000})
}
