package analyze

import (
	"context"
	"math"
	"os"
	"slices"
	"sync"
)

// ocrStream reads on-screen text while the decode pass runs. The pass
// reports each still it writes and the transitions the detector has
// settled; the stills are decided (ocrDecider) in time order as soon as
// the transitions up to them are final, and the chosen ones are read in
// the background, one tesseract per free process slot. Speech chunks wait
// for the text shown up to their end (textsUntil): it becomes vocabulary.
// Every decision depends on the media only, never on timing.
type ocrStream struct {
	ctx     context.Context
	r       *runner
	minConf float64
	prog    *progressTracker

	mu       sync.Mutex
	cond     *sync.Cond
	stills   []frameInfo
	state    []stillState
	texts    [][]ocrLine
	err      error        // first failed read
	trs      []transition // transitions known to be final
	horizon  float64      // every transition before this time is known
	passDone bool
	next     int // next still to decide
	dec      ocrDecider
	read     int
	reused   int
	reads    sync.WaitGroup
	done     chan struct{} // closed when run returns
}

type stillState uint8

const (
	stillUndecided stillState = iota
	stillSkipped
	stillReading
	stillRead
)

func newOCRStream(ctx context.Context, r *runner, minConf, interval float64, prog *progressTracker) *ocrStream {
	s := &ocrStream{ctx: ctx, r: r, minConf: minConf, prog: prog, dec: ocrDecider{interval: interval}, horizon: math.Inf(-1), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	return s
}

// addStill is called by the pass for each still, in order.
func (s *ocrStream) addStill(f frameInfo) {
	s.mu.Lock()
	s.stills = append(s.stills, f)
	s.state = append(s.state, stillUndecided)
	s.texts = append(s.texts, nil)
	s.cond.Broadcast()
	s.mu.Unlock()
}

// settled is called by the pass when the detector has judged more frames:
// trs are all the transitions before horizon.
func (s *ocrStream) settled(horizon float64, trs []transition) {
	s.mu.Lock()
	if horizon > s.horizon {
		s.horizon = horizon
		s.trs = trs
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// passEnded gives the final transitions: every still is known.
func (s *ocrStream) passEnded(trs []transition) {
	s.mu.Lock()
	s.passDone = true
	s.horizon = math.Inf(1)
	s.trs = trs
	s.cond.Broadcast()
	s.mu.Unlock()
}

// run decides the stills until the pass has ended and every still is
// decided, or ctx ends.
func (s *ocrStream) run() {
	defer close(s.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for s.ctx.Err() == nil && !(s.next < len(s.stills) && s.stills[s.next].Time+stillSlack <= s.horizon) && !(s.passDone && s.next >= len(s.stills)) {
			s.cond.Wait()
		}
		if s.ctx.Err() != nil || s.next >= len(s.stills) {
			return
		}
		k := s.next
		read, reused := s.dec.decide(s.stills[k], s.trs)
		switch {
		case read:
			s.state[k] = stillReading
			s.read++
			s.prog.ocrPlanned(s.read)
			s.reads.Add(1)
			go s.readStill(k, s.stills[k].Path)
		case reused:
			s.reused++
			s.state[k] = stillSkipped
		default:
			s.state[k] = stillSkipped
		}
		s.next++
		s.cond.Broadcast()
	}
}

// readStill reads still k once its file is complete (the pass writes
// stills atomically: the file appears when it is whole).
func (s *ocrStream) readStill(k int, path string) {
	defer s.reads.Done()
	s.mu.Lock()
	for s.ctx.Err() == nil && !s.passDone && !exists(path) {
		s.cond.Wait()
	}
	s.mu.Unlock()
	var lines []ocrLine
	var err error
	if exists(path) {
		lines, err = readText(s.ctx, s.r, path, s.minConf)
	}
	s.prog.ocrDone()
	s.mu.Lock()
	s.texts[k] = lines
	s.state[k] = stillRead
	if err != nil && s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// textsUntil waits until every still up to time t is decided and read, and
// returns the lines read from them.
func (s *ocrStream) textsUntil(ctx context.Context, t float64) ([]string, error) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.readyUntil(t) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		s.cond.Wait()
	}
	var out []string
	for k, f := range s.stills {
		if f.Time > t {
			break
		}
		for _, l := range s.texts[k] {
			out = append(out, l.Text)
		}
	}
	return out, nil
}

// readyUntil: no more stills up to t can come, and those there are have
// been decided and read. Called with s.mu held.
func (s *ocrStream) readyUntil(t float64) bool {
	if !s.passDone && s.horizon < t+stillSlack {
		return false
	}
	for k, f := range s.stills {
		if f.Time > t {
			break
		}
		if s.state[k] == stillUndecided || s.state[k] == stillReading {
			return false
		}
	}
	return true
}

// wait waits for run and every read to end (ctx must be over, or the pass
// must have ended).
func (s *ocrStream) wait() {
	<-s.done
	s.reads.Wait()
}

// plan waits for every read and returns them as the start of an ocrPlan
// over the final scenes, or the first read's error.
func (s *ocrStream) plan(spans []sceneSpan) (*ocrPlan, error) {
	s.wait()
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	p := newOCRPlan(slices.Clone(s.stills), spans)
	for k, st := range s.state {
		if st == stillRead {
			p.chosen[k], p.done[k], p.texts[k] = true, true, s.texts[k]
		}
	}
	p.count, p.read, p.reused = s.read, s.read, s.reused
	return p, nil
}
