/**
 * The `authenticator` section of aperture.yaml.
 */
import { join } from 'node:path';
import type { AuthenticatorConfig, LightningBackendKind } from './aperture-config.js';
import { CONFIG_DEFAULTS, checkAddress, type ResolveConfigContext } from './config-context.js';
import type { ConfigReader, ConfigSection } from './config-reader.js';
import {
  HTTP_BACKEND_KEYS,
  HTTP_LIGHTNING_BACKENDS,
  readHttpBackend,
  refundPayerKeys,
  type HttpLightningBackend,
} from './http-backend-config.js';
import { readWavelength } from './wavelength-config.js';
import { pairingPhraseToEntropy } from '../../lnc/pairing-phrase.js';

/** Keys of `authenticator`. @internal */
export const AUTH_KEYS = [
  'network',
  'disable',
  'lndhost',
  'tlspath',
  'macdir',
  'passphrase',
  'mailboxaddress',
  'devserver',
  'enablempp',
  'mpprealm',
  'enablesessions',
  'sessiondepositmultiplier',
  'sessionidletimeout',
  'wavelengthgateway',
  'wavelengthmacaroonpath',
  'backend',
  'paymacaroonpath',
  'acceptgochallenges',
  ...HTTP_BACKEND_KEYS,
];

const NETWORKS = ['regtest', 'simnet', 'testnet', 'mainnet', 'signet'];

/**
 * `authenticator`: the Lightning backend (lnd, dev, cln, lnbits, phoenixd, nwc, wavelength, or none), the
 * Payment scheme (MPP) and its sessions, and the reference's LNC keys, accepted with a warning
 * naming them.
 * @internal
 */
export function readAuthenticator(
  r: ConfigReader,
  a: ConfigSection,
  path: (p: string) => string,
  ctx: ResolveConfigContext,
  listenAddr: string,
): AuthenticatorConfig {
  const network = a.optString('network');
  if (network !== undefined && !NETWORKS.includes(network.toLowerCase())) {
    r.issue(a.path('network'), `unknown network "${network}" (${NETWORKS.join(', ')})`, a.node('network'));
  }
  const disable = a.bool('disable', false);
  const lndHost = a.optString('lndhost');
  const tlsPathText = a.optString('tlspath');
  const macDirText = a.optString('macdir');
  const passphrase = a.optString('passphrase');
  const enableMpp = a.bool('enablempp', false);
  const enableSessions = a.bool('enablesessions', false);
  const acceptGoChallenges = a.has('acceptgochallenges') ? a.bool('acceptgochallenges', false) : undefined;
  const backendText = a.optString('backend')?.toLowerCase();
  const wavelength = a.optString('wavelengthgateway');
  const payMacaroonText = a.optString('paymacaroonpath');
  const result: AuthenticatorConfig = {
    network: network?.toLowerCase(),
    disable,
    backend: 'none',
    lndHost,
    tlsPath: tlsPathText === undefined ? undefined : path(tlsPathText),
    macDir: macDirText === undefined ? undefined : path(macDirText),
    passphrase,
    mailboxAddress: a.string('mailboxaddress', CONFIG_DEFAULTS.mailboxAddress),
    devServer: a.bool('devserver', false),
    enableMpp,
    mppRealm: a.string('mpprealm', listenAddr),
    enableSessions,
    acceptGoChallenges,
    sessionDepositMultiplier:
      a.int('sessiondepositmultiplier', CONFIG_DEFAULTS.sessionDepositMultiplier, 0, 1_000_000) || CONFIG_DEFAULTS.sessionDepositMultiplier,
    sessionIdleTimeoutSeconds:
      a.int('sessionidletimeout', CONFIG_DEFAULTS.sessionIdleTimeoutSeconds, 0, 2 ** 31 - 1) || CONFIG_DEFAULTS.sessionIdleTimeoutSeconds,
    payMacaroonPath: payMacaroonText === undefined ? undefined : path(payMacaroonText),
  };
  if (enableSessions && !enableMpp) r.issue(a.path('enablesessions'), 'enablesessions requires enablempp');
  if (enableMpp && (result.mppRealm === '' || /[\x00-\x08\x0a-\x1f\x7f]/.test(result.mppRealm))) {
    r.issue(
      a.has('mpprealm') ? a.path('mpprealm') : a.path('enablempp'),
      'the MPP realm (mpprealm, by default listenaddr) must be a non-empty string without control characters',
      a.node('mpprealm'),
    );
  }
  if (!enableMpp) {
    for (const key of ['mpprealm', 'sessiondepositmultiplier', 'sessionidletimeout', 'acceptgochallenges']) {
      if (a.has(key)) r.warn(a.path(key), 'ignored', `enablempp is off: ${key} has no effect`, a.node(key));
    }
  } else if (!enableSessions) {
    for (const key of ['sessiondepositmultiplier', 'sessionidletimeout']) {
      if (a.has(key)) r.warn(a.path(key), 'ignored', `enablesessions is off: ${key} has no effect`, a.node(key));
    }
  }
  if (payMacaroonText !== undefined && !enableSessions) {
    r.warn(
      a.path('paymacaroonpath'),
      'ignored',
      'paymacaroonpath pays session refunds: it has no effect without enablesessions',
      a.node('paymacaroonpath'),
    );
  }
  if (enableMpp && disable)
    r.warn(
      a.path('enablempp'),
      'ignored',
      'authenticator.disable is set: every request passes and no Payment challenge is sent',
      a.node('enablempp'),
    );
  if (disable) return result;

  let backend: LightningBackendKind;
  // The remote backends (cln, lnbits, phoenixd, nwc) are read by http-backend-config.ts.
  const httpBackend = HTTP_LIGHTNING_BACKENDS.find((kind) => kind === backendText);
  const http = readHttpBackend(r, a, httpBackend, { env: ctx.env, fileExists: ctx.fileExists, path });
  if (http !== undefined) result.http = http;
  if (
    backendText !== undefined &&
    backendText !== 'lnd' &&
    backendText !== 'dev' &&
    backendText !== 'wavelength' &&
    httpBackend === undefined
  ) {
    r.issue(
      a.path('backend'),
      `unknown backend "${backendText}" (lnd, dev, ${HTTP_LIGHTNING_BACKENDS.join(', ')}, wavelength)`,
      a.node('backend'),
    );
    return result;
  }
  // As the reference: wavelengthgateway selects the Wavelength backend (before lndhost), unless backend: names another.
  const isWavelength = backendText === 'wavelength' || (backendText === undefined && wavelength !== undefined);
  const wl = readWavelength(r, a, isWavelength ? true : (backendText ?? (lndHost !== undefined ? 'lnd' : 'none')), {
    fileExists: ctx.fileExists,
    path,
  });
  if (isWavelength) {
    if (wl === undefined) return result;
    result.backend = 'wavelength';
    result.wavelength = wl;
    // The reference refuses these with a Wavelength gateway: they describe a node this backend does not use.
    for (const key of ['lndhost', 'passphrase']) {
      if (a.has(key))
        r.issue(a.path(key), `${key} cannot be set when invoices come from a Wavelength wallet (wavelengthgateway)`, a.node(key));
    }
    if (enableSessions) {
      r.issue(
        a.path('enablesessions'),
        'enablesessions pays session refunds to invoices without an amount, which the Wavelength wallet cannot pay (prepare-send refuses them): use backend lnd (with paymacaroonpath), cln, phoenixd, nwc or dev for sessions, or leave enablesessions off (charges work with Wavelength)',
        a.node('enablesessions'),
      );
    }
    requireMppNetwork(r, a, result, 'the Wavelength wallet');
    warnLncKeys(r, a, passphrase);
    return result;
  }
  if (httpBackend !== undefined) {
    backend = httpBackend;
    requireMppNetwork(r, a, result, `the ${httpBackend} backend`);
  } else if (backendText === 'dev') backend = 'dev';
  else if (backendText === 'lnd' || lndHost !== undefined || passphrase !== undefined) backend = 'lnd';
  else {
    r.issue(
      a.basePath,
      'no invoice backend: set authenticator.lndhost (with tlspath and macdir), authenticator.backend: cln, lnbits, phoenixd or nwc (with its keys), authenticator.wavelengthgateway (a Wavelength wallet), authenticator.backend: dev (test payments), or authenticator.disable: true',
    );
    return result;
  }
  result.backend = backend;
  if (backend === 'dev' && result.network === 'mainnet') {
    // DevInvoicer refuses mainnet at start-up; say so here too, so --check-config does not pass a config that cannot start.
    r.issue(
      a.path('network'),
      'the dev backend refuses mainnet: it gives invoices away for free; use lnd (lndhost, tlspath, macdir) for real payments, or a test network (regtest, testnet, signet, simnet)',
      a.node('network'),
    );
  }
  if (backend === 'lnd' && lndHost === undefined && passphrase !== undefined) {
    checkLnc(r, a, passphrase, result.mailboxAddress);
  } else if (backend === 'lnd') {
    if (lndHost === undefined) r.issue(a.path('lndhost'), "lnd host required (host:port of lnd's gRPC)");
    else checkAddress(r, a, 'lndhost', lndHost, true, 'issue');
    if (result.tlsPath === undefined) r.issue(a.path('tlspath'), "lnd tls required (path to lnd's tls.cert)");
    else if (!ctx.fileExists(result.tlsPath))
      r.warn(a.path('tlspath'), 'missing-file', `${result.tlsPath} does not exist (yet)`, a.node('tlspath'));
    if (result.macDir === undefined) r.issue(a.path('macdir'), 'lnd mac dir required (directory holding invoice.macaroon)');
    else if (!ctx.fileExists(join(result.macDir, 'invoice.macaroon')))
      r.warn(a.path('macdir'), 'missing-file', `${join(result.macDir, 'invoice.macaroon')} does not exist (yet)`, a.node('macdir'));
    if (enableSessions && result.payMacaroonPath === undefined) {
      r.issue(
        a.path('paymacaroonpath'),
        'enablesessions with lnd pays refunds: set paymacaroonpath to a macaroon that can pay (offchain:read and offchain:write, e.g. admin.macaroon or one baked with `lncli bakemacaroon offchain:read offchain:write`)',
      );
    } else if (enableSessions && result.payMacaroonPath !== undefined && !ctx.fileExists(result.payMacaroonPath)) {
      r.warn(a.path('paymacaroonpath'), 'missing-file', `${result.payMacaroonPath} does not exist (yet)`, a.node('paymacaroonpath'));
    }
    if (passphrase !== undefined) {
      r.warn(
        a.path('passphrase'),
        'conflict',
        'both lndhost and passphrase are set: lndhost wins (direct lnd connection) and the LNC passphrase is ignored; the Go aperture refuses this combination',
        a.node('passphrase'),
      );
    }
  } else if (lndHost !== undefined) {
    r.warn(
      a.path('lndhost'),
      'ignored',
      backend === 'dev'
        ? 'backend is dev: lndhost is ignored and invoices are issued by the built-in dev Lightning backend'
        : `backend is ${backend}: lndhost is ignored`,
      a.node('lndhost'),
    );
  }
  if (httpBackend !== undefined) checkRefundPayer(r, a, httpBackend, enableSessions);
  if (passphrase !== undefined && backend !== 'lnd')
    r.warn(a.path('passphrase'), 'ignored', `backend is ${backend}: passphrase is ignored`, a.node('passphrase'));
  warnLncKeys(r, a, passphrase);
  return result;
}

/** The LNC keys without a passphrase: ignored. */
/**
 * The Payment scheme names the network in its challenges and checks return
 * invoices against it. lnd and the dev backend report theirs; the remote
 * backends do not, and assuming mainnet would break every test network
 * (clients refuse the challenge, return invoices are refused).
 */
function requireMppNetwork(r: ConfigReader, a: ConfigSection, result: AuthenticatorConfig, backend: string): void {
  if (!result.enableMpp || result.network !== undefined) return;
  r.issue(
    a.path('network'),
    `enablempp with ${backend} needs authenticator.network (mainnet, testnet, signet or regtest): Payment challenges name the network and return invoices are checked against it, and this backend does not report it`,
    a.node('enablempp'),
  );
}

function warnLncKeys(r: ConfigReader, a: ConfigSection, passphrase: string | undefined): void {
  if (passphrase !== undefined) return;
  for (const key of ['mailboxaddress', 'devserver']) {
    if (a.has(key))
      r.warn(a.path(key), 'ignored', `${key} applies to Lightning Node Connect (authenticator.passphrase), which is not set`, a.node(key));
  }
}

/** lnd over Lightning Node Connect: a valid ten-word phrase, a mailbox host:port (session refunds are paid over the same LNC connection). */
function checkLnc(r: ConfigReader, a: ConfigSection, passphrase: string, mailboxAddress: string): void {
  try {
    pairingPhraseToEntropy(passphrase);
  } catch (error) {
    r.issue(
      a.path('passphrase'),
      `not an LNC pairing phrase: ${error instanceof Error ? error.message : String(error)}`,
      a.node('passphrase'),
    );
  }
  checkAddress(r, a, 'mailboxaddress', mailboxAddress, true, 'issue');
  for (const key of ['tlspath', 'macdir', 'paymacaroonpath']) {
    if (a.has(key))
      r.warn(
        a.path(key),
        'ignored',
        `${key} is not used with Lightning Node Connect (the node's macaroon comes with the pairing)`,
        a.node(key),
      );
  }
}

/**
 * The credential that pays MPP session refunds with a remote backend: required with `enablesessions`
 * (a refund pays the client's amountless return invoice), ignored without; LNbits cannot pay them.
 */
function checkRefundPayer(r: ConfigReader, a: ConfigSection, kind: HttpLightningBackend, enableSessions: boolean): void {
  const keys = refundPayerKeys(kind);
  if (keys === undefined) {
    if (enableSessions)
      r.issue(
        a.path('enablesessions'),
        `enablesessions pays session refunds to amountless invoices, which LNbits cannot pay (POST /api/v1/payments takes no amount and refuses such invoices): use backend cln, phoenixd, nwc, lnd or dev for sessions, or leave enablesessions off (charges work with every backend)`,
        a.node('enablesessions'),
      );
    return;
  }
  const given = a.has(keys.secret) ? keys.secret : a.has(keys.secretFile) ? keys.secretFile : undefined;
  if (!enableSessions) {
    if (given !== undefined)
      r.warn(a.path(given), 'ignored', `${given} pays session refunds: it has no effect without enablesessions`, a.node(given));
    return;
  }
  if (given === undefined)
    r.issue(
      a.path(keys.secret),
      `enablesessions with backend ${kind} pays refunds: set ${keys.secret} or ${keys.secretFile} to the ${keys.what} (it may be the same as the selling one when that one can pay)`,
    );
}
