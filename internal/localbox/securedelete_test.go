package localbox

import "testing"

// Both of the store's connections overwrite what they delete: the database
// holds token hashes and the history of revocations.
func TestStoreUsesSecureDelete(t *testing.T) {
	st, err := openStore(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, q := range map[string]func() (int, error){
		"writer": func() (n int, err error) { err = st.w.QueryRow("PRAGMA secure_delete").Scan(&n); return },
		"reader": func() (n int, err error) { err = st.r.QueryRow("PRAGMA secure_delete").Scan(&n); return },
	} {
		if n, err := q(); err != nil || n != 1 {
			t.Errorf("%s connection: secure_delete = %d (%v)", name, n, err)
		}
	}
}
