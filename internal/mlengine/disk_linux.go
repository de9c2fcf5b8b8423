package mlengine

import "syscall"

// diskFree is the space available to an unprivileged user on the file
// system holding dir, or -1 when it cannot be read.
func diskFree(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
