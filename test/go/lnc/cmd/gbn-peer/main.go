// Command gbn-peer runs one side of lightning-node-connect's gbn (the Go
// reference) over stdin and stdout, for the interoperability test of our
// TypeScript gbn (test/lnc/gbn-go-interop.test.ts). Each packet is framed as a
// 4-byte big-endian length and the packet's bytes, in both directions.
//
// It opens the connection in the given role with the options the LNC mailbox
// uses, then sends -count messages ("go <i>" padded to a size that varies with
// i) while checking that it receives the same number of "ts <i>" messages in
// order. Then it sends "go done" and waits for "ts done" (so that both sides
// know everything arrived); with -close=go it then closes (sending FIN), with
// -close=ts it waits for the peer's FIN. It prints one line to stderr and
// exits 0 on success, 1 otherwise.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lightninglabs/lightning-node-connect/gbn"
)

// message is the i-th message of a side: its name, a space, the index, and padding.
func message(side string, i int) []byte {
	return []byte(fmt.Sprintf("%s %d %s", side, i, strings.Repeat("x", (i*37)%1500)))
}

func main() {
	role := flag.String("role", "server", "client or server")
	count := flag.Int("count", 100, "messages to send and to receive")
	n := flag.Int("n", gbn.DefaultN, "window size the client proposes")
	closer := flag.String("close", "go", "who closes after the exchange: go or ts")
	flag.Parse()
	if err := run(*role, *count, uint8(*n), *closer); err != nil {
		fmt.Fprintf(os.Stderr, "gbn-peer %s: FAIL %v\n", *role, err)
		os.Exit(1)
	}
}

func run(role string, count int, n uint8, closer string) error {
	packets := make(chan []byte, 64)
	go func() {
		defer close(packets)
		in := bufio.NewReader(os.Stdin)
		var header [4]byte
		for {
			if _, err := io.ReadFull(in, header[:]); err != nil {
				return
			}
			packet := make([]byte, binary.BigEndian.Uint32(header[:]))
			if _, err := io.ReadFull(in, packet); err != nil {
				return
			}
			packets <- packet
		}
	}()
	recv := func(ctx context.Context) ([]byte, error) {
		select {
		case packet, ok := <-packets:
			if !ok {
				return nil, io.EOF
			}
			return packet, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	send := func(_ context.Context, packet []byte) error {
		outMu.Lock()
		defer outMu.Unlock()
		var header [4]byte
		binary.BigEndian.PutUint32(header[:], uint32(len(packet)))
		if _, err := out.Write(header[:]); err != nil {
			return err
		}
		if _, err := out.Write(packet); err != nil {
			return err
		}
		return out.Flush()
	}

	// The mailbox's options (lightning-node-connect mailbox/client_conn.go and server_conn.go).
	ping := 7 * time.Second
	if role == "server" {
		ping = 5 * time.Second
	}
	options := []gbn.Option{gbn.WithTimeoutOptions(
		gbn.WithHandshakeTimeout(2*time.Second),
		gbn.WithResendMultiplier(5),
		gbn.WithTimeoutUpdateFrequency(200),
		gbn.WithBoostPercent(0.5),
		gbn.WithKeepalivePing(ping, 3*time.Second),
	)}
	fins := make(chan struct{}, 1)
	options = append(options, gbn.WithOnFIN(func() { fins <- struct{}{} }))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		conn *gbn.GoBackNConn
		err  error
	)
	switch role {
	case "client":
		conn, err = gbn.NewClientConn(ctx, n, send, recv, options...)
	case "server":
		conn, err = gbn.NewServerConn(ctx, send, recv, options...)
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}

	errs := make(chan error, 2)
	go func() {
		for i := 0; i < count; i++ {
			if err := conn.Send(message("go", i)); err != nil {
				errs <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for i := 0; i < count; i++ {
			got, err := conn.Recv()
			if err != nil {
				errs <- fmt.Errorf("receive %d: %w", i, err)
				return
			}
			if want := message("ts", i); !bytes.Equal(got, want) {
				errs <- fmt.Errorf("message %d: got %q, want %q", i, got[:min(len(got), 20)], want[:min(len(want), 20)])
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			return err
		}
	}
	// Both sides say "done" after receiving everything, so that whoever
	// closes knows all its messages arrived.
	if err := conn.Send([]byte("go done")); err != nil {
		return fmt.Errorf("send done: %w", err)
	}
	if got, err := conn.Recv(); err != nil || string(got) != "ts done" {
		return fmt.Errorf("receive done: %q %v", got, err)
	}

	switch closer {
	case "go":
		if err := conn.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
	case "ts":
		select {
		case <-fins:
		case <-ctx.Done():
			return fmt.Errorf("no FIN from the peer")
		}
	}
	fmt.Fprintf(os.Stderr, "gbn-peer %s: exchanged %d messages each way, closed by %s\n", role, count, closer)
	return nil
}
