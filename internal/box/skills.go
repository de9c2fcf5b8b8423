package box

import (
	"time"
)

// Box Skills cards live in one metadata instance per file: scope "global",
// template "boxSkillsCards", document {"cards":[...]}. The card shapes follow
// the KeywordSkillCard, TranscriptSkillCard, TimelineSkillCard and
// StatusSkillCard schemas of Box's OpenAPI description.
const (
	SkillsScope    = "global"
	SkillsTemplate = "boxSkillsCards"

	// CardObjectType is the value of every card's "type".
	CardObjectType = "skill_card"
	// SkillObjectType is the value of Skill.Type.
	SkillObjectType = "service"
	// InvocationObjectType is the value of Invocation.Type.
	InvocationObjectType = "skill_invocation"
)

// Values of Card.SkillCardType.
const (
	CardTypeKeyword    = "keyword"
	CardTypeTranscript = "transcript"
	CardTypeTimeline   = "timeline"
	CardTypeStatus     = "status"
)

// Values of CardStatus.Code (StatusSkillCard.status.code).
const (
	StatusInvoked          = "invoked"
	StatusProcessing       = "processing"
	StatusSuccess          = "success"
	StatusTransientFailure = "transient_failure"
	StatusPermanentFailure = "permanent_failure"
)

// SkillsDocument is the boxSkillsCards metadata instance. On reads Box adds
// the $-prefixed instance fields; on writes only Cards is sent.
type SkillsDocument struct {
	Cards []Card `json:"cards"`

	CanEdit     *bool  `json:"$canEdit,omitempty"`
	ID          string `json:"$id,omitempty"`
	Parent      string `json:"$parent,omitempty"`
	Scope       string `json:"$scope,omitempty"`
	Template    string `json:"$template,omitempty"`
	Type        string `json:"$type,omitempty"`
	TypeVersion *int   `json:"$typeVersion,omitempty"`
	Version     *int   `json:"$version,omitempty"`
}

// Card is one Box Skills card. It is a single struct for all four card
// types; which fields apply depends on SkillCardType:
//
//	keyword:    Entries[].Text
//	transcript: Duration, Entries[].Text, Entries[].Appears[].Start
//	timeline:   Duration, Entries[].Text, Entries[].ImageURL, Entries[].Appears[].{Start,End}
//	status:     Status
//
// Use the New*Card constructors, which fill the constant fields, and
// ValidateSkillsCards to check a document against Box's schemas.
type Card struct {
	CreatedAt      *time.Time  `json:"created_at,omitempty"`
	Type           string      `json:"type"`            // always "skill_card"
	SkillCardType  string      `json:"skill_card_type"` // keyword | transcript | timeline | status
	SkillCardTitle *CardTitle  `json:"skill_card_title,omitempty"`
	Skill          Skill       `json:"skill"`
	Invocation     Invocation  `json:"invocation"`
	Duration       int         `json:"duration,omitempty"` // seconds; transcript and timeline cards
	Entries        []CardEntry `json:"entries,omitzero"`   // required (possibly empty) except on status cards
	Status         *CardStatus `json:"status,omitempty"`   // status cards only
}

// CardTitle is skill_card_title.
type CardTitle struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// Skill identifies the service that wrote the card.
type Skill struct {
	Type string `json:"type"` // always "service"
	ID   string `json:"id"`
}

// Invocation identifies one run of the service.
type Invocation struct {
	Type string `json:"type"` // always "skill_invocation"
	ID   string `json:"id"`
}

// CardStatus is a status card's status.
type CardStatus struct {
	Code    string `json:"code"` // one of the Status* constants
	Message string `json:"message,omitempty"`
}

// CardEntry is one entry of a keyword, transcript or timeline card.
type CardEntry struct {
	Text     string       `json:"text,omitempty"`
	Appears  []Appearance `json:"appears,omitempty"`
	ImageURL string       `json:"image_url,omitempty"`
}

// Appearance is a time on the card's timeline, in whole seconds. Transcript
// entries have only Start; timeline entries need both Start and End (use
// At and Span to build them).
type Appearance struct {
	Start int  `json:"start"`
	End   *int `json:"end,omitempty"`
}

// At is an appearance with only a start (transcript entries).
func At(start int) Appearance { return Appearance{Start: start} }

// Span is an appearance with a start and an end (timeline entries).
func Span(start, end int) Appearance { return Appearance{Start: start, End: &end} }

// CardMeta holds what every card carries besides its content.
type CardMeta struct {
	SkillID      string     // skill.id: the service writing the card
	InvocationID string     // invocation.id: this run (e.g. the workflow ID)
	Title        string     // skill_card_title.message; empty leaves the title out
	TitleCode    string     // skill_card_title.code (optional)
	CreatedAt    *time.Time // optional
}

func (m CardMeta) card(kind string) Card {
	c := Card{
		CreatedAt:     m.CreatedAt,
		Type:          CardObjectType,
		SkillCardType: kind,
		Skill:         Skill{Type: SkillObjectType, ID: m.SkillID},
		Invocation:    Invocation{Type: InvocationObjectType, ID: m.InvocationID},
	}
	if m.Title != "" || m.TitleCode != "" {
		c.SkillCardTitle = &CardTitle{Code: m.TitleCode, Message: m.Title}
	}
	return c
}

// NewKeywordCard builds a keyword card, one entry per keyword.
func NewKeywordCard(m CardMeta, keywords ...string) Card {
	c := m.card(CardTypeKeyword)
	c.Entries = make([]CardEntry, 0, len(keywords))
	for _, k := range keywords {
		c.Entries = append(c.Entries, CardEntry{Text: k})
	}
	return c
}

// NewTranscriptCard builds a transcript card; each entry should carry
// Appears with At(start).
func NewTranscriptCard(m CardMeta, durationSeconds int, entries []CardEntry) Card {
	c := m.card(CardTypeTranscript)
	c.Duration = durationSeconds
	c.Entries = nonNil(entries)
	return c
}

// NewTimelineCard builds a timeline card; each entry should carry Appears
// with Span(start, end) and usually an ImageURL.
func NewTimelineCard(m CardMeta, durationSeconds int, entries []CardEntry) Card {
	c := m.card(CardTypeTimeline)
	c.Duration = durationSeconds
	c.Entries = nonNil(entries)
	return c
}

// NewStatusCard builds a status card with one of the Status* codes.
func NewStatusCard(m CardMeta, code, message string) Card {
	c := m.card(CardTypeStatus)
	c.Status = &CardStatus{Code: code, Message: message}
	return c
}

func nonNil(e []CardEntry) []CardEntry {
	if e == nil {
		return []CardEntry{}
	}
	return e
}
