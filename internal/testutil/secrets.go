package testutil

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// bearer matches credentials whose values a test cannot know beforehand
// (tokens minted by a server): any "Bearer <value>" or access_token=<value>.
var bearer = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]{16,}|access_token=[A-Za-z0-9._~+/-]{16,}`)

// AssertNoSecretsLogged fails the test for every secret value (by name) that
// appears in output or in any file of logDir, and for any bearer token
// there. Secrets whose value is empty are ignored.
func AssertNoSecretsLogged(t testing.TB, secrets map[string]string, output, logDir string) {
	t.Helper()
	texts := map[string]string{"output": output}
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(logDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		texts[e.Name()] = string(b)
	}
	for name, text := range texts {
		for k, v := range secrets {
			if v != "" && strings.Contains(text, v) {
				t.Errorf("%s contains the value of %s", name, k)
			}
		}
		if m := bearer.FindString(text); m != "" {
			t.Errorf("%s contains a credential: %.20s…", name, m)
		}
	}
}
