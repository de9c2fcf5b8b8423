package localbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"filesight/internal/box"
)

// How the console shows a file's Skills cards, the way Box's preview
// sidebar shows them: the status with its message, a transcript whose
// lines move the player to their moment, keywords as chips, each timeline
// as rows of bars whose segments move the player. Card text is untrusted
// (whatever wrote the metadata chose it): it only ever reaches the page
// through html/template's escaping, and never as markup or a URL.

// pendingWindow: a file without a status card this young may still be
// picked up, so its status is refreshed.
const pendingWindow = 10 * time.Minute

// cardsDoc is a boxSkillsCards instance as the console reads it: numbers
// as floats, unknown members ignored.
type cardsDoc struct {
	Cards []struct {
		Type  string `json:"skill_card_type"`
		Title *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"skill_card_title"`
		Duration float64 `json:"duration"`
		Entries  []struct {
			Text    string `json:"text"`
			Appears []struct {
				Start float64  `json:"start"`
				End   *float64 `json:"end"`
			} `json:"appears"`
		} `json:"entries"`
		Status *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"cards"`
}

// statusView is a file's processing status, from its status card.
type statusView struct {
	Code    string // the card's status code, or "none"
	Label   string
	Message string
	Pending bool // the status may still change: refresh
}

var statusLabels = map[string]string{
	box.StatusInvoked:          "Queued",
	box.StatusProcessing:       "Processing",
	box.StatusSuccess:          "Done",
	box.StatusTransientFailure: "Failed (temporary)",
	box.StatusPermanentFailure: "Failed",
}

// pendingCode reports whether the status card says the work goes on. A
// failure, transient or not, is where a run ended: a new run writes a new
// processing card.
func (v statusView) pendingCode() bool {
	return v.Code == box.StatusInvoked || v.Code == box.StatusProcessing
}

// cardView is one card, ready for the page.
type cardView struct {
	Type  string // transcript | keyword | timeline | status
	Title string
	// Lines of a transcript; Keywords of a keyword card; Rows of a timeline.
	Lines    []lineView
	Keywords []string
	Rows     []timelineRow
	Status   *statusView
}

type lineView struct {
	Start   int // seconds (data-start)
	Stamp   string
	Text    string
	Current bool // the line the page was opened at
}

type timelineRow struct {
	Text     string
	Segments []segmentView
}

// segmentView is one appearance on a timeline bar drawn as an SVG rect in
// a 1000-unit wide view box (attributes, not styles: the CSP allows no
// inline style).
type segmentView struct {
	Start int
	Stamp string
	X, W  string
}

// fileCardsView is everything the console shows from a file's cards.
type fileCardsView struct {
	FileID     string
	Status     statusView
	Cards      []cardView
	Unreadable bool // the instance could not be read as cards
}

// readCards loads and lays out file f's cards; at (seconds, or -1) marks
// the transcript line the page was opened at.
func (c *console) readCards(ctx context.Context, q querier, f *fileRow, at int) (*fileCardsView, error) {
	v := &fileCardsView{FileID: idString(f.ID), Status: statusView{Code: "none", Label: "Not analysed"}}
	m, err := getMetadata(ctx, q, f.ID, box.SkillsScope, box.SkillsTemplate)
	switch {
	case isNotFound(err):
		v.Status.Pending = c.s.now().Sub(time.UnixMilli(f.CreatedAt)) < pendingWindow
		if v.Status.Pending {
			v.Status.Label = "Waiting"
		}
		return v, nil
	case err != nil:
		return nil, err
	}
	var doc cardsDoc
	if err := json.Unmarshal([]byte(m.Doc), &doc); err != nil {
		c.s.log.WarnContext(ctx, "console: the skills cards of a file cannot be shown", "file_id", f.ID, "error", err)
		v.Unreadable = true
		return v, nil
	}
	for _, card := range doc.Cards {
		cv := cardView{Type: card.Type}
		if card.Title != nil {
			cv.Title = card.Title.Message
		}
		switch card.Type {
		case box.CardTypeStatus:
			if card.Status == nil {
				continue
			}
			st := statusView{Code: card.Status.Code, Label: statusLabels[card.Status.Code], Message: card.Status.Message}
			if st.Label == "" {
				st.Label = card.Status.Code
			}
			st.Pending = st.pendingCode()
			cv.Status, v.Status = &st, st
			cv.Title = orDefault(cv.Title, "Status")
		case box.CardTypeTranscript:
			cv.Title = orDefault(cv.Title, "Transcript")
			for _, e := range card.Entries {
				l := lineView{Text: e.Text, Start: -1}
				if len(e.Appears) > 0 {
					l.Start = seconds(e.Appears[0].Start)
					l.Stamp = clock(l.Start)
					l.Current = l.Start == at
				}
				cv.Lines = append(cv.Lines, l)
			}
		case box.CardTypeKeyword:
			cv.Title = orDefault(cv.Title, "Keywords")
			for _, e := range card.Entries {
				if e.Text != "" {
					cv.Keywords = append(cv.Keywords, e.Text)
				}
			}
		case box.CardTypeTimeline:
			cv.Title = orDefault(cv.Title, "Timeline")
			dur := card.Duration
			for _, e := range card.Entries {
				for _, a := range e.Appears {
					dur = math.Max(dur, math.Max(a.Start, derefOr(a.End, a.Start+1)))
				}
			}
			for _, e := range card.Entries {
				row := timelineRow{Text: e.Text}
				for _, a := range e.Appears {
					start, end := a.Start, derefOr(a.End, a.Start+1)
					row.Segments = append(row.Segments, segmentView{
						Start: seconds(start), Stamp: clock(seconds(start)),
						X: viewBoxUnits(start, dur), W: viewBoxUnits(math.Max(end-start, dur/200), dur),
					})
				}
				cv.Rows = append(cv.Rows, row)
			}
		default:
			continue
		}
		v.Cards = append(v.Cards, cv)
	}
	if v.Status.Code == "none" {
		v.Status.Label = "No status"
	}
	return v, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func derefOr(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

// seconds is a card time as whole seconds (Box's card times are seconds).
func seconds(f float64) int {
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return int(math.Min(f, math.MaxInt32))
}

// clock formats seconds as m:ss or h:mm:ss.
func clock(s int) string {
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// viewBoxUnits is t as a position on a 1000-unit bar of length dur.
func viewBoxUnits(t, dur float64) string {
	if dur <= 0 || math.IsNaN(t) {
		return "0"
	}
	return strconv.FormatFloat(math.Max(0, math.Min(1000, t/dur*1000)), 'f', 1, 64)
}
