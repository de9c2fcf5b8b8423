package analyze

import "math"

// minScene is the shortest scene: a transition closer than this to the
// start of the current scene (a flash the guards let through, the second
// half of a fade through black) does not start a new one.
const minScene = 1.0

// stillSlack: a still this much before a scene's start still shows it (the
// detector sees at most one frame per sigMinGap seconds, the stills come
// from every frame).
const stillSlack = sigMinGap + 0.005

// sceneSpan is one scene of the media.
type sceneSpan struct {
	Start, End float64
	// Settled is when the picture stops changing: the end of the gradual
	// transition that started the scene, or Start after a cut.
	Settled float64
}

// sceneSpans turns transitions into consecutive scenes covering the media.
func sceneSpans(trs []transition, duration float64) []sceneSpan {
	spans := []sceneSpan{{}}
	for _, tr := range trs {
		if tr.Time-spans[len(spans)-1].Start < minScene {
			continue
		}
		spans = append(spans, sceneSpan{Start: tr.Time, Settled: math.Max(tr.Time, tr.End)})
	}
	for i := range spans {
		if i+1 < len(spans) {
			spans[i].End = spans[i+1].Start
		} else {
			spans[i].End = math.Max(duration, spans[i].Start)
		}
	}
	return spans
}

// thumbnail returns the index of the still that best shows the scene: the
// first one after it settled, else its first one; -1 if it has none.
func (s sceneSpan) thumbnail(stills []frameInfo) int {
	first := -1
	for k, f := range stills {
		if f.Time < s.Start-stillSlack || f.Time >= s.End-stillSlack {
			continue
		}
		if first < 0 {
			first = k
		}
		if f.Time >= s.Settled-stillSlack {
			return k
		}
	}
	return first
}

// sceneOf returns the index of the scene that time t falls in.
func sceneOf(spans []sceneSpan, t float64) int {
	for i := len(spans) - 1; i > 0; i-- {
		if t >= spans[i].Start-stillSlack {
			return i
		}
	}
	return 0
}
