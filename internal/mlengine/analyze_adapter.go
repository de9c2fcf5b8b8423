package mlengine

import "filesight/internal/provider"

// analyzeError maps an internal/analyze whole-job error to a job error; nil
// if err is not one.
func analyzeError(err error) *provider.JobError {
	return nil
}

// defaultAnalyzer is the real analyzer (internal/analyze).
func defaultAnalyzer() Analyzer { return nil }
