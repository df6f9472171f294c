// Command lnc-mailbox-peer runs both ends of one Lightning Node Connect
// session through a hashmail mailbox with the Go LNC code
// (github.com/lightninglabs/lightning-node-connect/mailbox): the node side
// (mailbox.NewServer, gRPC to the mailbox, as litd) and the client side
// (mailbox.NewGrpcClient or NewWebsocketsClient, as litcli and lnc-web).
// They pair with a fresh pairing phrase (the Noise XX handshake with the
// SPAKE2 mask over gbn), then the client sends -bytes random bytes and the
// node side echoes them back. The tests (test/lnc/) point it at our
// hashmail server: it shows that the Go LNC code works through it unchanged.
//
// With -node-only it runs the node side alone, for a client written
// elsewhere (ours): it pairs with the -phrase given, sends -auth as the
// handshake's auth data, echoes -bytes bytes and exits.
//
// The mailbox is dialled over TLS without checking the certificate (the
// tests' listener has a self-signed one), as litd does with `devserver`.
//
// It prints one JSON line:
//
//	{"ok":true,"bytes":100000,"transport":"grpc"}
//	{"ok":false,"error":"..."}
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightninglabs/lightning-node-connect/mailbox"
	"github.com/lightningnetwork/lnd/keychain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

type result struct {
	OK        bool   `json:"ok"`
	Bytes     int    `json:"bytes,omitempty"`
	Transport string `json:"transport,omitempty"`
	Error     string `json:"error,omitempty"`
}

func main() {
	addr := flag.String("mailbox", "", "host:port of the hashmail server (TLS)")
	transport := flag.String("transport", "grpc", "the client side's transport: grpc or ws")
	size := flag.Int("bytes", 100_000, "bytes the client sends and the node side echoes")
	timeout := flag.Duration("timeout", 60*time.Second, "time allowed for the whole exchange")
	nodeOnly := flag.Bool("node-only", false, "run the node side alone (pairs with -phrase, sends -auth)")
	phrase := flag.String("phrase", "", "the ten-word pairing phrase (with -node-only)")
	auth := flag.String("auth", "Macaroon: 00", "the node side's auth data (with -node-only)")
	flag.Parse()

	res := result{Transport: *transport}
	var err error
	if *nodeOnly {
		err = runNode(*addr, *phrase, *auth, *size, *timeout)
	} else {
		err = run(*addr, *transport, *size, *timeout)
	}
	if err != nil {
		res.Error = err.Error()
	} else {
		res.OK = true
		res.Bytes = *size
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if !res.OK {
		os.Exit(1)
	}
}

func run(addr, transport string, size int, timeout time.Duration) error {
	if addr == "" {
		return errors.New("-mailbox is required")
	}
	if transport != "grpc" && transport != "ws" {
		return fmt.Errorf("unknown -transport %q", transport)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	tlsConfig := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the tests' self-signed listener
	// The WebSocket client dials through the default HTTP client.
	http.DefaultTransport.(*http.Transport).TLSClientConfig = tlsConfig
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig))}

	_, entropy, err := mailbox.NewPassphraseEntropy()
	if err != nil {
		return fmt.Errorf("pairing phrase: %w", err)
	}
	nodeKey, err := btcec.NewPrivateKey()
	if err != nil {
		return err
	}
	clientKey, err := btcec.NewPrivateKey()
	if err != nil {
		return err
	}
	nodeData := mailbox.NewConnData(
		&keychain.PrivKeyECDH{PrivKey: nodeKey}, nil, entropy[:],
		[]byte("macaroon: test"), func(*btcec.PublicKey) error { return nil }, nil,
	)
	clientData := mailbox.NewConnData(
		&keychain.PrivKeyECDH{PrivKey: clientKey}, nil, entropy[:], nil,
		func(*btcec.PublicKey) error { return nil }, func([]byte) error { return nil },
	)

	// The node side: creates both streams, waits for the client, echoes.
	server, err := mailbox.NewServer(addr, nodeData, func(mailbox.ServerStatus) {}, dialOpts...)
	if err != nil {
		return fmt.Errorf("node side: %w", err)
	}
	defer server.Close()
	echoed := make(chan error, 1)
	go func() { echoed <- echo(server, nodeData, size, false) }()

	var client *mailbox.Client
	if transport == "grpc" {
		client, err = mailbox.NewGrpcClient(ctx, addr, clientData, dialOpts...)
	} else {
		client, err = mailbox.NewWebsocketsClient(ctx, addr, clientData)
	}
	if err != nil {
		return fmt.Errorf("client side: %w", err)
	}
	raw, err := client.Dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("client dial: %w", err)
	}
	defer raw.Close()
	conn, _, err := mailbox.NewNoiseGrpcConn(clientData).ClientHandshake(ctx, "", raw)
	if err != nil {
		return fmt.Errorf("client handshake: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	sent := make([]byte, size)
	if _, err := rand.Read(sent); err != nil {
		return err
	}
	wrote := make(chan error, 1)
	go func() { wrote <- writeChunks(conn, sent) }()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	if err := <-wrote; err != nil {
		return fmt.Errorf("client write: %w", err)
	}
	if !bytes.Equal(sent, got) {
		return errors.New("the echo differs from what was sent")
	}
	select {
	case err := <-echoed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runNode is the node side alone: it creates the session's streams, waits
// for one client, completes the handshake as the responder and echoes.
func runNode(addr, phrase, auth string, size int, timeout time.Duration) error {
	if addr == "" {
		return errors.New("-mailbox is required")
	}
	words := strings.Split(phrase, " ")
	if len(words) != mailbox.NumPassphraseWords {
		return fmt.Errorf("-phrase needs %d words", mailbox.NumPassphraseWords)
	}
	var mnemonic [mailbox.NumPassphraseWords]string
	copy(mnemonic[:], words)
	entropy := mailbox.PassphraseMnemonicToEntropy(mnemonic)
	nodeKey, err := btcec.NewPrivateKey()
	if err != nil {
		return err
	}
	nodeData := mailbox.NewConnData(
		&keychain.PrivKeyECDH{PrivKey: nodeKey}, nil, entropy[:],
		[]byte(auth), func(*btcec.PublicKey) error { return nil }, nil,
	)
	tlsConfig := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the tests' self-signed listener
	server, err := mailbox.NewServer(addr, nodeData, func(mailbox.ServerStatus) {},
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return fmt.Errorf("node side: %w", err)
	}
	defer server.Close()
	echoed := make(chan error, 1)
	go func() { echoed <- echo(server, nodeData, size, true) }()
	select {
	case err := <-echoed:
		return err
	case <-time.After(timeout):
		return errors.New("no client within the timeout")
	}
}

// echo accepts the client, completes the handshake as the responder and
// sends back the bytes it reads. With linger it then waits for the client to
// close (a write returns once gbn's window took it, not once it arrived).
func echo(server *mailbox.Server, data *mailbox.ConnData, size int, linger bool) error {
	raw, err := server.Accept()
	if err != nil {
		return fmt.Errorf("node accept: %w", err)
	}
	conn, _, err := mailbox.NewNoiseGrpcConn(data).ServerHandshake(raw)
	if err != nil {
		return fmt.Errorf("node handshake: %w", err)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("node read: %w", err)
	}
	if err := writeChunks(conn, buf); err != nil {
		return fmt.Errorf("node write: %w", err)
	}
	if linger {
		_, _ = io.Copy(io.Discard, conn)
	}
	return nil
}

// writeChunks writes in pieces of 32 KiB: one Noise message holds at most
// 65535 bytes, and gRPC, the usual user of the connection, writes less.
func writeChunks(conn net.Conn, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), 32*1024)
		if _, err := conn.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
