package localbox

// Internals the external tests (package localbox_test) look at.

// HashToken is how the admin API identifies a token.
var HashToken = hashToken

// TokenHashPrefix is how much of a token's hash the admin API shows.
const TokenHashPrefix = tokenHashPrefix

// StandardFileFields are the fields of a file answered without ?fields=.
var StandardFileFields = standardFileFields

// Action is what a request does to an item.
type Action = action

// The actions.
const (
	ActRead     = actRead
	ActDownload = actDownload
	ActWrite    = actWrite
)

// ActionScopes maps each action to the scopes that allow it.
var ActionScopes = actionScopes

// MaxAttempts is the number of delivery attempts before an event fails.
func (c *Config) MaxAttempts() int { return c.maxAttempts() }
