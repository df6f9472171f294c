/**
 * Bitcoin networks as Lightning backends name them, and the BOLT11 prefix and
 * address parameters of each (what the `bolt11` package needs to encode and
 * decode an invoice of that network).
 */

/** A Bitcoin network as lnd's `GetInfo.chains[].network` names it. */
export type LightningNetwork = 'mainnet' | 'testnet' | 'signet' | 'regtest' | 'simnet';

/** Every network name, for validating configuration. */
export const LIGHTNING_NETWORKS: readonly LightningNetwork[] = ['mainnet', 'testnet', 'signet', 'regtest', 'simnet'];

/** The network description the `bolt11` package takes. */
export interface Bolt11Network {
  bech32: string;
  pubKeyHash: number;
  scriptHash: number;
  validWitnessVersions: number[];
}

const PARAMS: Record<LightningNetwork, Bolt11Network> = {
  mainnet: { bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, validWitnessVersions: [0, 1] },
  testnet: { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  signet: { bech32: 'tbs', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  regtest: { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  simnet: { bech32: 'sb', pubKeyHash: 0x3f, scriptHash: 0x7b, validWitnessVersions: [0, 1] },
};

/**
 * Whether a value names a known network.
 * @param value - candidate
 * @returns `true` for one of {@link LIGHTNING_NETWORKS}
 */
export function isLightningNetwork(value: unknown): value is LightningNetwork {
  return typeof value === 'string' && (LIGHTNING_NETWORKS as readonly string[]).includes(value);
}

/**
 * The `bolt11` network parameters of a network (a fresh copy: `bolt11` keeps
 * references to what it is given).
 * @param network - the network
 * @returns its bech32 prefix and address parameters
 */
export function bolt11Network(network: LightningNetwork): Bolt11Network {
  const p = PARAMS[network];
  return { ...p, validWitnessVersions: [...p.validWitnessVersions] };
}

/**
 * The network of a BOLT11 payment request, from its human-readable prefix.
 * @param paymentRequest - a BOLT11 invoice
 * @returns the network, or `undefined` when the prefix is not one we know
 */
export function networkOfInvoice(paymentRequest: string): LightningNetwork | undefined {
  const text = paymentRequest.toLowerCase();
  const separator = text.lastIndexOf('1');
  if (!text.startsWith('ln') || separator < 2) return undefined;
  const hrp = text.slice(2, separator);
  for (const network of LIGHTNING_NETWORKS) {
    const prefix = PARAMS[network].bech32;
    // The amount after the prefix is digits and an optional multiplier, so a
    // `tb` invoice is never mistaken for `tbs` nor `bc` for `bcrt`.
    if (hrp.startsWith(prefix) && /^(\d+[munp]?)?$/.test(hrp.slice(prefix.length))) return network;
  }
  return undefined;
}
