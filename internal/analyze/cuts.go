package analyze

import (
	"math"
	"slices"
	"sort"
)

// Cut detection works on a small copy of every video frame (sigW×sigH RGB,
// at most one frame per sigMinGap seconds) that the decode pass sends
// through a pipe, so it costs one downscale per frame and stays inside the
// single decode. The downscale averages every fourth row of the picture
// (ffmpeg's field filter, twice, picks them without copying; averaging all
// rows of 720p took half as many instructions as decoding it, every fourth
// row a sixth): that averages away sensor and coding noise. Comparing RGB
// (not brightness alone) tells a dark-blue slide from a dark-red one of the
// same brightness.
//
// Two detectors share the frames, and both are adaptive: a change counts
// when it stands far above the differences around it, so a still slide
// (differences near zero) makes a change of a few words significant while
// a moving camera (large differences everywhere) needs a real break.
//
//   - Cuts: a frame whose difference from the previous frame is the largest
//     of its neighbourhood, at least cutRatio times the typical (90th
//     percentile) difference within cutWindow seconds on either side (the
//     larger of the two sides, so that motion starting or stopping is not a
//     cut), and most of the change between the pictures shortly before and
//     after it (so one step of a dissolve is not a cut). The jump may take
//     up to cutMaxFrames frames if those in between are mixes of the
//     pictures around them (interlaced or blended frames); a longer run of
//     large differences, or one whose frames are not mixes, is motion (a
//     whip pan).
//   - Gradual transitions (dissolves, fades to or from black, fades through
//     black): the difference between the frames half a window before and
//     after a point (gradualSpan apart) that stands far above the same
//     measure further away. A candidate is checked against a model: every
//     frame in between must be a mix a·A + b·B of the pictures A before and
//     B after, moving steadily from A towards B. Camera motion, zooms and
//     flashes do not fit the model; the new scene starts where a frame is
//     nearer to B than to A.
//
// Guards common to both: a change whose picture returns to the one before
// within flashReturn seconds is a flash (or strobe), not a cut; and a change
// that leaves the picture's structure as it was (only brightness or
// contrast changed, like an exposure change) is not a cut.
const (
	sigW      = 64
	sigH      = 36
	sigBytes  = sigW * sigH * 3
	sigMinGap = 0.03 // seconds between frames sent to the detector (at most ~33 per second)

	cutWindow       = 1.0   // seconds either side for a cut's baseline
	cutRatio        = 3.5   // a cut's difference is at least this many times the baseline
	cutBaseQuantile = 0.9   // the baseline: this quantile of the differences (periodic small jumps, like a slow pan by whole pixels, are part of it)
	cutMaxFrames    = 3     // frames a cut may take (blended frames in between); a longer run of large differences is motion
	cutMinDiff      = 0.004 // and at least this (mean absolute difference, 0..1): about one grey level in 255
	cutStepSpan     = 0.2   // seconds either side for the step test
	cutStepShare    = 0.5   // a cut is at least this share of the change across cutStepSpan
	flashReturn     = 1.0   // seconds in which a picture that comes back makes a change a flash
	flashShare      = 0.35  // "comes back": within this share of the change's size
	sameCorr        = 0.985 // structure correlation above which two pictures are the same scene

	gradualSpan     = 1.0    // seconds between the frames compared for gradual transitions
	gradualRatio    = 4.0    // their difference is at least this many times the baseline further away
	gradualMinDiff  = 0.004  // and at least this
	gradualFit      = 0.2    // a mixed frame may differ from the model by this share of the change (+ noise)
	gradualMonotone = 0.2    // how far a mix weight may move the wrong way
	gradualMinMixed = 2      // frames that are clearly a mix of both pictures
	codecNoise      = 0.0005 // differences between frames of a still picture from lossy coding

	detectorLookahead = 2.5*gradualSpan + 0.6 // seconds of frames needed after a frame to judge it
	detectorKeep      = 1.5*gradualSpan + 0.3 // seconds of frames kept before the next frame to judge
)

// transition is a change of scene found by the detector.
type transition struct {
	Time       float64 // the new scene starts here
	Start, End float64 // the span of the change; both equal Time for a cut
	Gradual    bool
	Size       float64 // mean absolute difference (0..1) between the pictures before and after
}

// cutDetector finds transitions in a stream of small frames. It keeps the
// per-frame difference signals of the whole stream (a few bytes per frame)
// and the pictures of only the last few seconds.
type cutDetector struct {
	times []float64 // every frame's time
	d1    []float64 // d1[i]: difference between frames i-1 and i (d1[0] = 0)
	dg    []float64 // dg[i]: difference between the frames gradualSpan/2 before and after frame i
	dgN   int       // dg is known for frames below dgN

	pix  [][]byte // pictures of frames base, base+1, ...
	base int
	next int // next frame to judge
	free [][]byte

	cuts, gradual []transition
	gradualUntil  float64 // no new gradual candidate before this time
	scratch       []float64

	// onSettled, if set, is told now and then that the transitions before
	// horizon are known and final.
	onSettled   func(horizon float64, trs []transition)
	lastSettled int
}

// settleLag: a transition that starts more than this before the last
// judged frame can no longer change. A gradual transition judged at frame
// m spans at most gradualSpan either side of it, so it may end after the
// last judged frame, and a cut found later within it replaces it; and a
// gradual transition not yet judged starts at most gradualSpan before its
// frame.
const settleLag = 2*gradualSpan + 0.2

// push adds the next frame (time t, sigBytes of RGB). pix is copied.
func (d *cutDetector) push(t float64, pix []byte) {
	if len(pix) != sigBytes {
		return
	}
	if n := len(d.times); n > 0 && t <= d.times[n-1] {
		t = d.times[n-1] + 1e-3 // keep times strictly increasing
	}
	var buf []byte
	if k := len(d.free); k > 0 {
		buf, d.free = d.free[k-1], d.free[:k-1]
	} else {
		buf = make([]byte, sigBytes)
	}
	copy(buf, pix)
	n := len(d.times)
	d.times = append(d.times, t)
	d.pix = append(d.pix, buf)
	v := 0.0
	if n > 0 {
		v = frameDiff(d.frame(n-1), buf)
	}
	d.d1 = append(d.d1, v)
	d.dg = append(d.dg, 0)
	for d.dgN < len(d.times) && d.times[d.dgN]+gradualSpan/2 <= t {
		d.computeDG(d.dgN)
		d.dgN++
	}
	for d.next < len(d.times) && d.times[d.next]+detectorLookahead <= t {
		d.judge(d.next)
		d.next++
	}
	if d.onSettled != nil && d.next-d.lastSettled >= 10 {
		d.lastSettled = d.next
		horizon := d.times[d.next-1] - settleLag
		all := mergeTransitions(d.cuts, d.gradual)
		n := 0
		for n < len(all) && all[n].Time < horizon {
			n++
		}
		d.onSettled(horizon, all[:n])
	}
	d.prune()
}

// finish judges the frames still waiting (with what follows them cut short
// by the end of the media) and returns the transitions in time order.
func (d *cutDetector) finish() []transition {
	for ; d.dgN < len(d.times); d.dgN++ {
		d.computeDG(d.dgN)
	}
	for ; d.next < len(d.times); d.next++ {
		d.judge(d.next)
	}
	return mergeTransitions(d.cuts, d.gradual)
}

func (d *cutDetector) frame(i int) []byte { return d.pix[i-d.base] }

// prune drops pictures that no judgement needs any more.
func (d *cutDetector) prune() {
	if d.next >= len(d.times) {
		return
	}
	keepFrom := d.times[d.next] - detectorKeep
	for d.base < d.next-3 && d.times[d.base] < keepFrom && d.base < d.dgN-1 {
		d.free = append(d.free, d.pix[0])
		d.pix[0] = nil
		d.pix = d.pix[1:]
		d.base++
	}
}

// at returns the frame nearest to time t among the frames whose pictures
// are kept.
func (d *cutDetector) at(t float64) int {
	n := len(d.times)
	i := sort.SearchFloat64s(d.times, t)
	if i >= n {
		i = n - 1
	} else if i > 0 && t-d.times[i-1] < d.times[i]-t {
		i--
	}
	return max(i, d.base)
}

func (d *cutDetector) computeDG(i int) {
	t := d.times[i]
	a, b := d.at(t-gradualSpan/2), d.at(t+gradualSpan/2)
	if a == b {
		d.dg[i] = 0
		return
	}
	d.dg[i] = frameDiff(d.frame(a), d.frame(b))
}

// percentile returns the p-quantile (0..1) of v[i] for frames i with
// from <= times[i] <= to, skipping frame skip; 0 when there are none.
func (d *cutDetector) percentile(v []float64, from, to float64, skip int, p float64) float64 {
	s := d.scratch[:0]
	lo := sort.SearchFloat64s(d.times, from)
	for i := lo; i < len(v) && d.times[i] <= to; i++ {
		if i != skip {
			s = append(s, v[i])
		}
	}
	d.scratch = s
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return s[int(math.Round(p*float64(len(s)-1)))]
}

func (d *cutDetector) judge(m int) {
	if tr, ok := d.judgeCut(m); ok {
		d.cuts = append(d.cuts, tr)
	}
	if d.times[m] >= d.gradualUntil {
		if tr, ok := d.judgeGradual(m); ok {
			d.gradual = append(d.gradual, tr)
			d.gradualUntil = tr.End + gradualSpan/2
		}
	}
}

// judgeCut decides whether frame m starts a new scene abruptly.
func (d *cutDetector) judgeCut(m int) (transition, bool) {
	if m < 1 || m-1 < d.base {
		return transition{}, false
	}
	v := d.d1[m]
	if v < cutMinDiff {
		return transition{}, false
	}
	// The largest difference of its neighbourhood (the first of equals).
	for k := m - 2; k <= m+2; k++ {
		if k < 1 || k == m || k >= len(d.d1) {
			continue
		}
		if d.d1[k] > v || (k < m && d.d1[k] == v) {
			return transition{}, false
		}
	}
	t := d.times[m]
	base := max(d.percentile(d.d1, t-cutWindow, d.times[m-1], m, cutBaseQuantile), d.percentile(d.d1, d.times[min(m+1, len(d.times)-1)], t+cutWindow, m, cutBaseQuantile))
	if v < cutRatio*base {
		return transition{}, false
	}
	// A cut may take up to cutMaxFrames frames (a field-blended frame in
	// between); a longer run of large differences is motion, like a whip pan.
	s, e := m, m
	for s-1 >= 1 && m-(s-1) < cutMaxFrames && d.d1[s-1] >= v/2 {
		s--
	}
	for e+1 < len(d.d1) && e+1-s < cutMaxFrames && d.d1[e+1] >= v/2 {
		e++
	}
	if (s-1 >= 1 && d.d1[s-1] >= v/2) || (e+1 < len(d.d1) && d.d1[e+1] >= v/2) || s-1 < d.base {
		return transition{}, false
	}
	before, after := d.frame(s-1), d.frame(e)
	size := frameDiff(before, after)
	at := e
	if e > s {
		// The frames in between must be mixes of the pictures around them.
		mix := newMixModel(before, after)
		for k := s; k < e; k++ {
			if r, _, _ := mix.fit(d.frame(k)); r > gradualFit*size+codecNoise {
				return transition{}, false
			}
			if at == e && frameDiff(d.frame(k), before) >= frameDiff(d.frame(k), after) {
				at = k
			}
		}
	}
	t = d.times[at]
	// A step, not part of a gradual change: most of the change across a
	// little more time happens here.
	a := min(d.at(d.times[s-1]-cutStepSpan), s-1)
	c := max(d.at(d.times[e]+cutStepSpan), e)
	if across := frameDiff(d.frame(a), d.frame(c)); size < cutStepShare*across {
		return transition{}, false
	}
	if d.returns(before, e+1, t+flashReturn, flashShare*size) || d.returned(after, s-2, t-flashReturn, flashShare*size) || sameStructure(before, after) {
		return transition{}, false
	}
	return transition{Time: t, Start: d.times[s-1], End: d.times[e], Size: size}, true
}

// returns reports whether a frame from `from` up to time `until` is within
// tol of picture p: the picture came back.
func (d *cutDetector) returns(p []byte, from int, until, tol float64) bool {
	for k := from; k < len(d.times) && d.times[k] <= until; k++ {
		if frameDiff(p, d.frame(k)) <= tol {
			return true
		}
	}
	return false
}

// returned reports whether a frame from `from` back to time `since` is
// within tol of picture p: the change ends a flash.
func (d *cutDetector) returned(p []byte, from int, since, tol float64) bool {
	for k := from; k >= d.base && d.times[k] >= since; k-- {
		if frameDiff(p, d.frame(k)) <= tol {
			return true
		}
	}
	return false
}

// judgeGradual decides whether a gradual transition is centred near frame m.
func (d *cutDetector) judgeGradual(m int) (transition, bool) {
	v := d.dg[m]
	if v < gradualMinDiff {
		return transition{}, false
	}
	t := d.times[m]
	lo := sort.SearchFloat64s(d.times, t-gradualSpan/2)
	for k := lo; k < len(d.dg) && d.times[k] <= t+gradualSpan/2; k++ {
		if d.dg[k] > v || (k < m && d.dg[k] == v) {
			return transition{}, false
		}
	}
	base := max(d.percentile(d.dg, t-2.5*gradualSpan, t-1.5*gradualSpan, -1, 0.5), d.percentile(d.dg, t+1.5*gradualSpan, t+2.5*gradualSpan, -1, 0.5))
	if v < gradualRatio*base {
		return transition{}, false
	}
	a, b := d.at(t-gradualSpan), d.at(t+gradualSpan)
	if b-a < 3 {
		return transition{}, false
	}
	A, B := d.frame(a), d.frame(b)
	size := frameDiff(A, B)
	if size < max(gradualMinDiff, gradualRatio*base) || sameStructure(A, B) {
		return transition{}, false
	}
	noise := 2*d.percentile(d.d1, d.times[a], d.times[b], -1, 0.5) + codecNoise
	mix := newMixModel(A, B)
	// progress 0..1 from A to B of each frame in between, by distance.
	maxP := 0.0
	first, last, mixed, cross := -1, -1, 0, -1
	// A fade through black starts the new scene at its darkest frame
	// (weights adding up to well under 1); that needs two pictures that are
	// not black themselves.
	dip, dipW := -1, 0.5
	throughBlack := meanLevel(A) > 0.05 && meanLevel(B) > 0.05
	for k := a + 1; k < b; k++ {
		f := d.frame(k)
		r, wa, wb := mix.fit(f)
		if throughBlack && wa+wb < dipW {
			dip, dipW = k, wa+wb
		}
		if r > gradualFit*size+noise {
			return transition{}, false
		}
		da, db := frameDiff(f, A), frameDiff(f, B)
		p := 0.5
		if da+db > 0 {
			p = da / (da + db)
		}
		if p < maxP-gradualMonotone {
			return transition{}, false
		}
		maxP = math.Max(maxP, p)
		if p > 0.15 && first < 0 {
			first = k
		}
		if p < 0.85 {
			last = k
		}
		if p >= 0.15 && p <= 0.85 {
			mixed++
		}
		if p >= 0.5 && cross < 0 {
			cross = k
		}
	}
	if mixed < gradualMinMixed || first < 0 || cross < 0 {
		return transition{}, false
	}
	if dip >= 0 {
		cross = dip
	}
	end := d.times[min(last+1, b)]
	if d.returns(A, last+1, end+flashReturn, flashShare*size) {
		return transition{}, false
	}
	return transition{Time: d.times[cross], Start: d.times[first-1], End: end, Gradual: true, Size: size}, true
}

// mergeTransitions puts cuts and gradual transitions in time order. A
// gradual transition around a cut is the cut seen from further away; it is
// dropped.
func mergeTransitions(cuts, gradual []transition) []transition {
	out := slices.Clone(cuts)
	for _, g := range gradual {
		covered := false
		for _, c := range cuts {
			if c.Time >= g.Start-0.1 && c.Time <= g.End+0.1 {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(x, y transition) int {
		switch {
		case x.Time < y.Time:
			return -1
		case x.Time > y.Time:
			return 1
		}
		return 0
	})
	return out
}

// frameDiff is the mean absolute difference of two pictures, 0..1.
func frameDiff(a, b []byte) float64 {
	var sum uint64
	for i := range a {
		x := int(a[i]) - int(b[i])
		if x < 0 {
			x = -x
		}
		sum += uint64(x)
	}
	return float64(sum) / float64(len(a)) / 255
}

// meanLevel is the mean value of a picture, 0..1.
func meanLevel(a []byte) float64 {
	var sum uint64
	for _, v := range a {
		sum += uint64(v)
	}
	return float64(sum) / float64(len(a)) / 255
}

// sameStructure reports whether two pictures differ only in brightness
// and contrast: their mean-removed values are almost perfectly correlated.
// Flat pictures (a black frame) have no structure to compare.
func sameStructure(a, b []byte) bool {
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var vab, vaa, vbb float64
	for i := range a {
		x, y := float64(a[i])-ma, float64(b[i])-mb
		vab += x * y
		vaa += x * x
		vbb += y * y
	}
	const flat = 4.0 // variance (grey levels²) below which a picture is flat
	if vaa/n < flat || vbb/n < flat {
		return false
	}
	return vab/math.Sqrt(vaa*vbb) >= sameCorr
}

// mixModel fits a picture as a·A + b·B by least squares (with a little
// ridge so that a black A or B, which carries no information, gets weight
// zero instead of making the system singular).
type mixModel struct {
	a, b             []byte
	aa, ab, bb, ridg float64
}

func newMixModel(a, b []byte) *mixModel {
	m := &mixModel{a: a, b: b}
	for i := range a {
		x, y := float64(a[i])/255, float64(b[i])/255
		m.aa += x * x
		m.ab += x * y
		m.bb += y * y
	}
	m.ridg = 1e-9 * (m.aa + m.bb + 1)
	return m
}

// fit returns the mean absolute difference (0..1) between picture f and
// its best mix of A and B, and the weights of A and B.
func (m *mixModel) fit(f []byte) (resid, wa, wb float64) {
	var fa, fb float64
	for i := range f {
		x := float64(f[i]) / 255
		fa += x * float64(m.a[i]) / 255
		fb += x * float64(m.b[i]) / 255
	}
	p, q, r := m.aa+m.ridg, m.ab, m.bb+m.ridg
	det := p*r - q*q
	wa = (fa*r - fb*q) / det
	wb = (fb*p - fa*q) / det
	var sum float64
	for i := range f {
		sum += math.Abs(float64(f[i]) - wa*float64(m.a[i]) - wb*float64(m.b[i]))
	}
	return sum / float64(len(f)) / 255, wa, wb
}
