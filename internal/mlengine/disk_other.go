//go:build !linux

package mlengine

// diskFree is unknown on this system: free space is not checked.
func diskFree(string) int64 { return -1 }
