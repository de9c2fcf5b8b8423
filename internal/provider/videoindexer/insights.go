package videoindexer

import (
	"strings"

	"filesight/internal/provider"
)

// labelWeight ranks visual labels below spoken and written keywords: a
// label's score is its best confidence times this.
const labelWeight = 0.5

// toResult maps an index to the result document the card writer reads.
// Every analysis Video Indexer performs is filled (an empty list when it
// found nothing), whichever were asked for: the card writer only uses
// those the job requested.
func toResult(ix *Index, scenesFrom string, labels bool) *provider.Result {
	ins := &Insights{}
	if len(ix.Videos) > 0 && ix.Videos[0].Insights != nil {
		ins = ix.Videos[0].Insights
	}
	r := &provider.Result{
		Media:    &provider.MediaInfo{Duration: ix.DurationInSeconds, HasAudio: len(ins.Transcript) > 0, HasVideo: len(ins.Shots) > 0},
		Keywords: []provider.Keyword{},
		Scenes:   []provider.Scene{},
		OCR:      []provider.OCRText{},
	}
	if r.Media.Duration <= 0 {
		r.Media.Duration = float64(ins.Duration)
	}
	r.Transcript = transcript(ins.Transcript)
	for _, k := range ins.Keywords {
		r.Keywords = append(r.Keywords, provider.Keyword{Text: k.Text, Score: k.Confidence, Appears: spans(k.Instances)})
	}
	if labels {
		for _, l := range ins.Labels {
			best := 0.0
			for _, in := range l.Instances {
				best = max(best, in.Confidence)
			}
			r.Keywords = append(r.Keywords, provider.Keyword{Text: l.Name, Score: best * labelWeight, Appears: spans(l.Instances)})
		}
	}
	switch {
	case scenesFrom == ScenesFromScenes && len(ins.Scenes) > 0:
		for _, s := range ins.Scenes {
			for _, in := range s.Instances {
				r.Scenes = append(r.Scenes, provider.Scene{Start: float64(in.Start), End: float64(in.End)})
			}
		}
	default:
		for _, s := range ins.Shots {
			thumb := ""
			if len(s.KeyFrames) > 0 && len(s.KeyFrames[0].Instances) > 0 {
				thumb = s.KeyFrames[0].Instances[0].ThumbnailID
			}
			for _, in := range s.Instances {
				r.Scenes = append(r.Scenes, provider.Scene{Start: float64(in.Start), End: float64(in.End), Thumbnail: thumb})
			}
		}
	}
	for _, o := range ins.OCR {
		for _, in := range o.Instances {
			r.OCR = append(r.OCR, provider.OCRText{Text: o.Text, Start: float64(in.Start), End: float64(in.End), Confidence: confidence(o.Confidence)})
		}
	}
	return r
}

func spans(ins []Instance) []provider.Span {
	out := make([]provider.Span, 0, len(ins))
	for _, in := range ins {
		out = append(out, provider.Span{Start: float64(in.Start), End: float64(in.End)})
	}
	return out
}

// confidence brings a confidence into [0, 1]: some documented samples
// give OCR confidences on a scale of a thousand.
func confidence(c float64) float64 {
	if c > 1 {
		c /= 1000
	}
	return min(max(c, 0), 1)
}

// transcript turns Video Indexer's timed lines into words. Lines are timed,
// words are not: provider.SpreadWords shares each line's time out.
func transcript(lines []TranscriptLine) *provider.Transcript {
	t := &provider.Transcript{Words: []provider.Word{}}
	var texts []string
	for _, l := range lines {
		text := strings.TrimSpace(l.Text)
		if text == "" || len(l.Instances) == 0 {
			continue
		}
		texts = append(texts, text)
		t.Words = append(t.Words, provider.SpreadWords(text, float64(l.Instances[0].Start), float64(l.Instances[0].End), confidence(l.Confidence))...)
	}
	t.Text = strings.Join(texts, " ")
	return t
}
