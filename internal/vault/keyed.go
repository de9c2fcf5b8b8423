package vault

import (
	"context"
	"fmt"

	"filesight/internal/detect"
	"filesight/internal/secret"
)

// MinKeyedKeyLen is the shortest key Keyed accepts.
const MinKeyedKeyLen = 16

// Keyed is a Tokenizer that derives tokens from a key and stores nothing:
// nobody can map its tokens back to values. With the vault service's token
// key it gives the service's tokens.
type Keyed struct{ key []byte }

// NewKeyed returns a Keyed tokenizer (key: at least MinKeyedKeyLen bytes).
func NewKeyed(key secret.String) (*Keyed, error) {
	if len(key.Reveal()) < MinKeyedKeyLen {
		return nil, fmt.Errorf("vault: the tokenisation key must be at least %d bytes", MinKeyedKeyLen)
	}
	return &Keyed{key: []byte(key.Reveal())}, nil
}

// Tokenize implements Tokenizer.
func (k *Keyed) Tokenize(_ context.Context, items []Item) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		v, err := detect.Normalize(it.Kind, it.Value.Reveal())
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if it.Format == FormatLast4 && it.Kind != KindCard {
			return nil, fmt.Errorf("item %d: format last4 applies to cards only", i)
		}
		out[i] = NewToken(it.Kind, MAC(k.key, it.Kind, v), it.Format, v).String()
	}
	return out, nil
}

// String keeps the key out of fmt output.
func (k *Keyed) String() string { return "vault.Keyed{key:" + secret.Redacted + "}" }

// GoString keeps the key out of %#v.
func (k *Keyed) GoString() string { return k.String() }

// New returns a Redactor over a Keyed tokenizer: one-way tokens, nothing
// stored. Use a Redactor over vaultclient.Client where values must be
// recoverable by authorised people.
func New(key secret.String) (*Redactor, error) {
	k, err := NewKeyed(key)
	if err != nil {
		return nil, err
	}
	return NewRedactor(k, RedactorOptions{}), nil
}

// withheld is the Tokenizer of last resort, used when the real one fails
// and there is no way to report the error: "[card:withheld]" for every card.
type withheld struct{}

func (withheld) Tokenize(_ context.Context, items []Item) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = "[" + string(it.Kind) + ":withheld]"
	}
	return out, nil
}
