// Package freeport finds loopback ports for servers that a test or a
// benchmark starts as separate processes and must name before they listen.
//
// Such a port is only known to be free when it is checked; a process that
// binds it later can lose it in between. Asking the kernel for port 0 makes
// that window worse than it looks: the answer comes from the ephemeral range
// (ip_local_port_range, 32768–60999 by default on Linux), the same range
// from which every outgoing connection on the machine takes its local port,
// so a busy machine hands the port to some client a moment later. freeport
// picks ports below that range instead, where only another listener that
// names the port can take it.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Low and High bound the ports freeport hands out: [Low, High). High is the
// start of Linux's default ephemeral range.
const (
	Low  = 20000
	High = 32768
)

// attempts is how many random ports Addr tries before it gives up.
const attempts = 100

// Addr returns a 127.0.0.1:port address on which nothing listens now, with
// the port taken at random from [Low, High).
func Addr() (string, error) {
	ln, err := Listen()
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// Free reports whether addr can be listened on now.
func Free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Listen listens on 127.0.0.1 at a port taken at random from [Low, High),
// for a server that may close its listener and listen again on the same
// address (a restart in a test): with a port from the ephemeral range, an
// outgoing connection could take it in between.
func Listen() (net.Listener, error) {
	var err error
	for range attempts {
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(Low+rand.IntN(High-Low))))
		if err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("listening on 127.0.0.1 between %d and %d: %w", Low, High-1, err)
}
