package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	for range 20 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if host != "127.0.0.1" || p < Low || p >= High {
			t.Fatalf("Addr() = %s, want 127.0.0.1 with a port in [%d, %d)", addr, Low, High)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("Addr() = %s, which cannot be listened on: %v", addr, err)
		}
		l.Close()
	}
}

func TestFreeSeesAListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if Free(l.Addr().String()) {
		t.Errorf("Free(%s) = true while a listener holds it", l.Addr())
	}
	addr := l.Addr().String()
	l.Close()
	if !Free(addr) {
		t.Errorf("Free(%s) = false after its listener closed", addr)
	}
}

func TestListenHoldsAPortBelowTheEphemeralRange(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := ln.Addr().(*net.TCPAddr).Port
	if p < Low || p >= High {
		t.Errorf("Listen() on port %d, want [%d, %d)", p, Low, High)
	}
	if Free(ln.Addr().String()) {
		t.Errorf("Free(%s) = true while Listen's listener holds it", ln.Addr())
	}
}
