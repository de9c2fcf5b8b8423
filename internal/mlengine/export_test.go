package mlengine

import (
	"context"
	"database/sql"
)

// Internals the external tests (package mlengine_test) look at.

// JobDir is where job id keeps its files.
func (s *Server) JobDir(id string) string { return s.eng.jobDir(id) }

// DB is the job database.
func (s *Server) DB() *sql.DB { return s.eng.store.db }

// JobAttempts is how many times job id has been started.
func (s *Server) JobAttempts(ctx context.Context, id string) (int, error) {
	j, err := s.eng.store.get(ctx, id)
	if err != nil {
		return 0, err
	}
	return j.Attempts, nil
}
