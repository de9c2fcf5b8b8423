package activitiestest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"filesight/internal/box"
	"filesight/internal/secret"
)

type fakeToken struct {
	value   secret.String
	fileID  string
	scopes  []string
	expires time.Time
	revoked bool
}

// Box is a fake Box API.
type Box struct {
	mu       sync.Mutex
	clock    Clock
	lifetime time.Duration
	files    map[string]box.File
	tokens   []*fakeToken
	cards    map[string][]box.Card
	writes   map[string]int
	failures map[string][]failure
	calls    []Call
	seq      int
}

type failure struct {
	nth int // 1-based call number of the op
	err error
}

// NewBox returns an empty fake Box whose tokens live for lifetime.
func NewBox(clock Clock, lifetime time.Duration) *Box {
	if clock == nil {
		clock = time.Now
	}
	return &Box{clock: clock, lifetime: lifetime, files: map[string]box.File{}, cards: map[string][]box.Card{},
		writes: map[string]int{}, failures: map[string][]failure{}}
}

// AddFile stores a file.
func (b *Box) AddFile(id, name string, size int64, versionID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ext := ""
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			ext = name[i+1:]
			break
		}
	}
	b.files[id] = box.File{Type: "file", ID: id, Name: name, Size: size, Extension: ext,
		FileVersion: &box.FileVersion{Type: "file_version", ID: versionID}, ItemStatus: "active"}
}

// FailOn makes the nth call (1-based, counted per op) of op fail with err.
// Ops: Downscope, Revoke, GetFile, UpsertSkillsCards.
func (b *Box) FailOn(op string, nth int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures[op] = append(b.failures[op], failure{nth: nth, err: err})
}

// call records a call and returns the injected failure, if any. b.mu held.
func (b *Box) call(op string) error {
	n := 1
	for _, c := range b.calls {
		if c.Op == op {
			n++
		}
	}
	var err error
	for _, f := range b.failures[op] {
		if f.nth == n {
			err = f.err
		}
	}
	b.calls = append(b.calls, Call{Op: op, At: b.clock(), Err: err})
	return err
}

// Calls returns the recorded calls of op ("" for all).
func (b *Box) Calls(op string) []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return callsOf(b.calls, op)
}

func (b *Box) Downscope(ctx context.Context, fileID string, scopes ...string) (box.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Downscope"); err != nil {
		return box.Token{}, err
	}
	if _, ok := b.files[fileID]; !ok {
		// Box's answer to a token exchange for a missing file.
		return box.Token{}, &box.Error{StatusCode: http.StatusBadRequest, Code: box.CodeInvalidResource,
			Message: "The target resource is invalid.", Op: "POST /oauth2/token (token-exchange)"}
	}
	b.seq++
	t := &fakeToken{value: secret.String(fmt.Sprintf("fake-downscoped-%d-%s", b.seq, fileID)), fileID: fileID,
		scopes: slices.Clone(scopes), expires: b.clock().Add(b.lifetime)}
	b.tokens = append(b.tokens, t)
	return box.Token{AccessToken: t.value, ExpiresAt: t.expires, Scopes: t.scopes, FileID: fileID}, nil
}

func (b *Box) Revoke(ctx context.Context, token secret.String) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.call("Revoke")
	b.calls[len(b.calls)-1].Token = token.Fingerprint()
	if err != nil {
		return err
	}
	for _, t := range b.tokens {
		if t.value == token {
			t.revoked = true
		}
	}
	return nil
}

// authorize checks a token as Box does. b.mu held.
func (b *Box) authorize(op string, token secret.String, fileID, scope string) error {
	for _, t := range b.tokens {
		if t.value != token {
			continue
		}
		if t.revoked || !b.clock().Before(t.expires) {
			return &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token", Op: op}
		}
		if t.fileID != fileID || !slices.Contains(t.scopes, scope) {
			return &box.Error{StatusCode: http.StatusForbidden, Code: "insufficient_scope", Op: op}
		}
		return nil
	}
	return &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token", Op: op}
}

func (b *Box) GetFile(ctx context.Context, token secret.String, fileID string, fields ...string) (*box.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("GetFile"); err != nil {
		return nil, err
	}
	if err := b.authorize("GET /2.0/files/{id}", token, fileID, box.ScopeItemPreview); err != nil {
		return nil, err
	}
	f, ok := b.files[fileID]
	if !ok {
		return nil, &box.Error{StatusCode: http.StatusNotFound, Code: "not_found", Op: "GET /2.0/files/{id}"}
	}
	return &f, nil
}

func (b *Box) FileContentURL(fileID string) string {
	return "http://box.invalid/2.0/files/" + fileID + "/content"
}

func (b *Box) UpsertSkillsCards(ctx context.Context, token secret.String, fileID string, cards []box.Card) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("UpsertSkillsCards"); err != nil {
		return err
	}
	if err := b.authorize("PUT /2.0/files/{id}/metadata/global/boxSkillsCards", token, fileID, box.ScopeItemUpload); err != nil {
		return err
	}
	doc, err := json.Marshal(box.SkillsDocument{Cards: cards})
	if err != nil {
		return err
	}
	if err := box.ValidateSkillsCards(doc); err != nil {
		return fmt.Errorf("box: skills cards for file %s: %w", fileID, err)
	}
	b.cards[fileID] = slices.Clone(cards)
	b.writes[fileID]++
	return nil
}

// RevokedAt returns when the token with this fingerprint was first revoked
// successfully, and whether it was.
func (b *Box) RevokedAt(fingerprint string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.calls {
		if c.Op == "Revoke" && c.Err == nil && c.Token == fingerprint {
			return c.At, true
		}
	}
	return time.Time{}, false
}

// Cards returns the file's current cards.
func (b *Box) Cards(fileID string) []box.Card {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.cards[fileID])
}

// Issued returns how many tokens were issued.
func (b *Box) Issued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tokens)
}

// Unrevoked returns a description of every issued token not revoked.
func (b *Box) Unrevoked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, t := range b.tokens {
		if !t.revoked {
			out = append(out, fmt.Sprintf("%s (file %s, scopes %v)", t.value.Fingerprint(), t.fileID, t.scopes))
		}
	}
	return out
}

// TokenValues returns every issued token's value (to prove none leaked).
func (b *Box) TokenValues() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, t := range b.tokens {
		out = append(out, t.value.Reveal())
	}
	return out
}
