/** `aperturecli info` and `aperturecli health`. */
import { adminCommand, text } from './admin-command.js';
import type { CommandSpec } from './cli-spec.js';

/** `info`: network, listen address, TLS status, MPP settings. */
export const infoCommand: CommandSpec = adminCommand({
  name: 'info',
  summary: 'Get Aperture server information',
  description: 'Display server info including network, listen address, and TLS status.',
  method: 'GetInfo',
  mutating: false,
  request: () => ({}),
  human(response, context) {
    context.table([
      ['Network:', text(response, 'network')],
      ['Listen Address:', text(response, 'listen_addr')],
      ['Insecure:', String(response['insecure'] === true)],
      ['MPP Enabled:', String(response['mpp_enabled'] === true)],
    ]);
  },
});

/** `health`: whether the server and its store answer (needs no macaroon on our server, but one is read). */
export const healthCommand: CommandSpec = adminCommand({
  name: 'health',
  summary: 'Check Aperture server health',
  description: 'Query the health endpoint to verify the server is responsive.',
  method: 'GetHealth',
  mutating: false,
  request: () => ({}),
  human(response, context) {
    context.line(`Status: ${text(response, 'status')}`);
  },
});
