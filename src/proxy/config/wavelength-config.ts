/**
 * The reference's Wavelength keys of `authenticator`: `wavelengthgateway` (the
 * wallet daemon's HTTP/JSON gateway; setting it selects the backend, as in the
 * reference) and `wavelengthmacaroonpath` (the macaroon sent with each call).
 */
import type { ConfigReader, ConfigSection } from './config-reader.js';

/** The resolved settings of `backend: wavelength`. */
export interface WavelengthConfig {
  /** The gateway's base URL, without a trailing slash. */
  gateway: string;
  /** The macaroon file, `~` expanded; none means calls carry no credential (a daemon with `rpc.no-macaroons`). */
  macaroonPath: string | undefined;
}

/** How {@link readWavelength} resolves paths and checks files. */
export interface WavelengthConfigContext {
  fileExists: (path: string) => boolean;
  /** Expands `~` and `$VAR` in a path. */
  path: (p: string) => string;
}

/**
 * Reads the Wavelength keys when that backend is selected, and warns about them when another one is.
 * @param r - where issues and warnings go
 * @param a - the `authenticator` section
 * @param selected - whether Wavelength is the backend; else the backend that is, for the warnings
 * @param ctx - paths, files
 * @returns the settings (undefined when not selected or unusable)
 */
export function readWavelength(
  r: ConfigReader,
  a: ConfigSection,
  selected: true | string,
  ctx: WavelengthConfigContext,
): WavelengthConfig | undefined {
  const gatewayText = a.optString('wavelengthgateway');
  const macaroonText = a.optString('wavelengthmacaroonpath');
  if (selected !== true) {
    for (const key of ['wavelengthgateway', 'wavelengthmacaroonpath']) {
      if (a.has(key)) r.warn(a.path(key), 'ignored', `backend is ${selected}: ${key} has no effect`, a.node(key));
    }
    return undefined;
  }
  if (gatewayText === undefined) {
    r.issue(a.path('wavelengthgateway'), 'backend: wavelength needs wavelengthgateway (e.g. http://localhost:10061)');
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(gatewayText);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.host === '' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    r.issue(
      a.path('wavelengthgateway'),
      `wavelengthgateway must be an http:// or https:// URL with a host and without query, got "${gatewayText}"`,
      a.node('wavelengthgateway'),
    );
    return undefined;
  }
  const macaroonPath = macaroonText === undefined ? undefined : ctx.path(macaroonText);
  if (macaroonPath === undefined) {
    r.warn(
      a.path('wavelengthmacaroonpath'),
      'missing-file',
      'no wavelengthmacaroonpath: invoice requests carry no credential, which only a wallet daemon started with rpc.no-macaroons accepts',
    );
  } else if (!ctx.fileExists(macaroonPath)) {
    r.warn(a.path('wavelengthmacaroonpath'), 'missing-file', `${macaroonPath} does not exist (yet)`, a.node('wavelengthmacaroonpath'));
  }
  return { gateway: gatewayText.replace(/\/+$/, ''), macaroonPath };
}
