package vaultserver

import (
	"time"

	"filesight/internal/secret"
)

func secretOf(s string) secret.String { return secret.String(s) }

func timeAt(sec int64) time.Time { return time.Unix(1_800_000_000/60*60+sec, 0) }
