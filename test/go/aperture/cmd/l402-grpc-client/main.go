// Command l402-grpc-client calls one gRPC method through an L402 proxy with
// the reference's client interceptor (github.com/lightninglabs/aperture/l402),
// which pays the 402 challenge with the given lnd and retries with the token.
// The tests (test/regtest/) point it at our proxy: it shows that the Go
// client of the reference pays our gRPC 402 and that our proxy accepts what
// it sends. The request is an empty message; the reply is printed as hex.
//
// It prints one JSON line per call:
//
//	{"ok":true,"replyHex":"...","tokens":1}
//	{"ok":false,"code":"Internal","error":"..."}
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightninglabs/aperture/l402"
	"github.com/lightninglabs/lndclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives message bytes as they are, so that any method
// can be called without its generated types.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

type result struct {
	OK       bool   `json:"ok"`
	ReplyHex string `json:"replyHex,omitempty"`
	Code     string `json:"code,omitempty"`
	Error    string `json:"error,omitempty"`
	Tokens   int    `json:"tokens"`
}

func main() {
	target := flag.String("target", "", "host:port of the L402 proxy (TLS)")
	proxyCert := flag.String("proxycert", "", "PEM certificate the proxy's TLS must chain to")
	serverName := flag.String("servername", "localhost", "TLS server name of the proxy")
	method := flag.String("method", "", "full gRPC method, /package.Service/Method")
	calls := flag.Int("calls", 1, "how many times to call the method")
	lndHost := flag.String("lndhost", "", "host:port of the paying lnd's gRPC")
	lndTLS := flag.String("lndtls", "", "the paying lnd's tls.cert")
	lndMacDir := flag.String("lndmacdir", "", "the paying lnd's macaroon directory")
	tokenDir := flag.String("tokendir", "", "directory of the interceptor's token store")
	maxCost := flag.Int64("maxcost", 1000, "most satoshis to pay for a token")
	flag.Parse()

	if err := run(*target, *proxyCert, *serverName, *method, *calls, *lndHost, *lndTLS, *lndMacDir, *tokenDir, *maxCost); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func run(target, proxyCert, serverName, method string, calls int, lndHost, lndTLS, lndMacDir, tokenDir string, maxCost int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	lnd, err := lndclient.NewLndServices(&lndclient.LndServicesConfig{
		LndAddress:  lndHost,
		Network:     lndclient.NetworkRegtest,
		MacaroonDir: lndMacDir,
		TLSPath:     lndTLS,
		CallerCtx:   ctx,
	})
	if err != nil {
		return fmt.Errorf("connecting to lnd: %w", err)
	}
	defer lnd.Close()

	store, err := l402.NewFileStore(tokenDir)
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	interceptor := l402.NewInterceptor(&lnd.LndServices, store, 30*time.Second, btcutil.Amount(maxCost), 10, false)

	pem, err := os.ReadFile(proxyCert)
	if err != nil {
		return fmt.Errorf("proxy certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", proxyCert)
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: serverName})),
		grpc.WithUnaryInterceptor(interceptor.UnaryInterceptor),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
	)
	if err != nil {
		return fmt.Errorf("dialing %s: %w", target, err)
	}
	defer conn.Close()

	out := json.NewEncoder(os.Stdout)
	for i := 0; i < calls; i++ {
		request := []byte{}
		var reply []byte
		callErr := conn.Invoke(ctx, method, &request, &reply)
		tokens, _ := store.AllTokens()
		r := result{Tokens: len(tokens)}
		if callErr != nil {
			r.Code = status.Code(callErr).String()
			r.Error = callErr.Error()
		} else {
			r.OK = true
			r.ReplyHex = hex.EncodeToString(reply)
		}
		if err := out.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
