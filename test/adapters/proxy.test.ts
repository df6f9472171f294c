// The adapter conformance suite against the reverse proxy: the same Gate
// (through the adapters' L402Policy) behind a `Proxy` on a `ProxyServer`,
// the answers coming from a backend behind it. The library's adapters and the
// proxy of the `aperture` program decide through one Gate; this keeps what
// they send from drifting apart.
//
// The backend answers like the adapters' test handlers: it reads the token
// from the credential the proxy forwarded (the L402 line of the two the proxy
// sends, as the reference does), or from the second scheme's line.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { L402Policy } from '../../src/adapters/node/l402-policy.js';
import { toHex } from '../../src/core/bytes.js';
import { readCredential } from '../../src/core/credentials.js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { ProxyServer } from '../../src/proxy/server/proxy-server.js';
import { nodeRequestView } from '../../src/adapters/node/request-view.js';
import { service, startBackend } from '../proxy/support.js';
import { TEST_SCHEME_TOKEN } from '../fixtures/test-payment-scheme.js';
import { handlerBody, runConformance } from './conformance-suite.js';

/** The backend: the path as received, the token of the forwarded credential. */
function backendHandler(req: IncomingMessage, res: ServerResponse): void {
  const lines = req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]?.toLowerCase() === 'authorization');
  let token: { tokenId: string; caveats: readonly string[] } | undefined;
  if (lines.includes('Test good')) token = TEST_SCHEME_TOKEN;
  else if (lines.length > 0) {
    // The proxy forwards a verified credential as "LSAT <m>:<p>" then "L402 <m>:<p>"; readCredential takes both.
    const read = readCredential(nodeRequestView(req));
    if (read.kind === 'credential') {
      const mac = read.credential.macaroons[0];
      if (mac !== undefined) token = { tokenId: toHex(decodeIdentifier(mac.identifier).tokenId), caveats: mac.firstPartyCaveats() };
    }
  }
  res.setHeader('content-type', 'application/json');
  res.end(handlerBody(new URL(req.url ?? '/', 'http://x').pathname, token));
}

runConformance({
  name: "Proxy (the aperture program's forwarding core)",
  protocols: ['http1', 'http2'],
  async start(options, transport) {
    const backend = await startBackend(backendHandler);
    const policy = new L402Policy(options);
    const gate = policy.gate;
    const proxy = new Proxy({
      services: [service(backend.address)],
      authorize: ({ request }) => policy.decide(request),
      schemes: gate.schemes,
      afterResponse: gate.observesResponses
        ? (context, decision, outcome) => gate.responded(context.request, decision, outcome)
        : undefined,
    });
    const server = new ProxyServer({
      handler: proxy,
      listenAddr: '127.0.0.1:0',
      ...(transport.protocol === 'http1' ? { insecure: true } : { tls: { cert: transport.cert, key: transport.key } }),
    });
    const { port } = await server.listen();
    return {
      port,
      close: async () => {
        await server.close();
        await proxy.close();
        await backend.close();
      },
    };
  },
});
