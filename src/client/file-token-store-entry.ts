/**
 * Tokens in files, in the reference client's token file format (entry
 * `aperture-ts/client/file-token-store`; uses `node:fs`). A separate entry
 * point, so that `aperture-ts/client` stays free of Node modules and runs in
 * browsers and edge runtimes.
 * @packageDocumentation
 */
export { FileTokenStore } from './file-token-store.js';
export type { FileTokenStoreOptions } from './file-token-store.js';
export { encodeTokenFile, decodeTokenFile } from './token-file-codec.js';
