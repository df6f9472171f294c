// A regtest Lightning network for the tests: btcd and two lnd nodes, seller and
// buyer, with a channel buyer → seller. Built from the binaries that
// scripts/build-go-tools.ts caches; everything lives in one temporary folder,
// removed by stop().
//
// Funding without a wallet of our own: btcd pays block rewards to its
// --miningaddr, fixed at start. The chain btcd (the one both lnd nodes use)
// mines to a burn address; once the buyer's lnd is up and has given an address, a
// second btcd ("miner") is started with that address, peered with the chain btcd,
// mines one block to the buyer and stops; the chain btcd then mines the 100
// blocks that make that reward spendable. Start-up takes about 10 seconds.
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import lightning from 'lightning';
import { freePort } from '../e2e/support.js';
import { startProcess, waitFor, type Proc } from './processes.js';

type AuthenticatedLnd = ReturnType<typeof lightning.authenticatedLndGrpc>['lnd'];

/** P2WPKH to twenty zero bytes: nobody can spend what is mined to it. */
const BURN_ADDRESS = 'bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202';
/** The height from which btcd's regtest enforces segwit. */
const SEGWIT_HEIGHT = 432;

/**
 * Runs `start` again (up to three times in all) when the program it started
 * exited because a port that was free when picked was taken before it bound
 * it: other processes on a shared machine open ports all the time.
 */
async function onFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const taken = error instanceof Error && /exited while waiting[\s\S]*address already in use/.test(error.message);
      if (!taken || attempt === 3) throw error;
    }
  }
}

/** Paths of the binaries. */
export interface NetworkBinaries {
  btcd: string;
  lnd: string;
}

/** A btcd in regtest. */
export class Btcd {
  readonly rpcHost: string;
  readonly p2pHost: string;
  readonly certPath: string;
  readonly user = 'regtest';
  readonly pass = randomBytes(12).toString('hex');
  #proc: Proc | undefined;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly binary: string,
    rpcPort: number,
    p2pPort: number,
  ) {
    this.rpcHost = `127.0.0.1:${rpcPort}`;
    this.p2pHost = `127.0.0.1:${p2pPort}`;
    this.certPath = join(dir, 'rpc.cert');
  }

  /** Starts a btcd mining to `miningAddress`, optionally peered with `connect` only. */
  static start(name: string, binary: string, dir: string, miningAddress: string, connect?: string): Promise<Btcd> {
    return onFreshPorts(() => Btcd.#start(name, binary, dir, miningAddress, connect));
  }

  static async #start(name: string, binary: string, dir: string, miningAddress: string, connect?: string): Promise<Btcd> {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const btcd = new Btcd(name, dir, binary, await freePort(), await freePort());
    const args = [
      '--regtest',
      `--datadir=${join(dir, 'data')}`,
      `--logdir=${join(dir, 'logs')}`,
      `--rpclisten=${btcd.rpcHost}`,
      `--listen=${btcd.p2pHost}`,
      `--rpcuser=${btcd.user}`,
      `--rpcpass=${btcd.pass}`,
      `--rpccert=${btcd.certPath}`,
      `--rpckey=${join(dir, 'rpc.key')}`,
      `--miningaddr=${miningAddress}`,
      '--txindex',
      '--nobanning',
      '--nostalldetect',
      '--trickleinterval=50ms',
      '--debuglevel=info',
    ];
    if (connect !== undefined) args.push(`--connect=${connect}`);
    btcd.#proc = startProcess(name, binary, args, join(dir, 'btcd.out'));
    await waitFor(`${name} RPC`, async () => (existsSync(btcd.certPath) ? await btcd.rpc<number>('getblockcount') : undefined), {
      proc: btcd.#proc,
    });
    return btcd;
  }

  /** One JSON-RPC call. */
  rpc<T>(method: string, params: unknown[] = []): Promise<T> {
    const body = JSON.stringify({ jsonrpc: '1.0', id: 1, method, params });
    const [host, port] = this.rpcHost.split(':') as [string, string];
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port: Number(port),
          method: 'POST',
          path: '/',
          ca: readFileSync(this.certPath),
          servername: 'localhost',
          auth: `${this.user}:${this.pass}`,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              const reply = JSON.parse(text) as { result: T; error: { message: string } | null };
              if (reply.error !== null) reject(new Error(`btcd ${method}: ${reply.error.message}`));
              else resolve(reply.result);
            } catch {
              reject(new Error(`btcd ${method}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`btcd ${method}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Mines `blocks` blocks; resolves with the new height. */
  async mine(blocks: number): Promise<number> {
    await this.rpc<string[]>('generate', [blocks]);
    return this.rpc<number>('getblockcount');
  }

  async stop(): Promise<void> {
    await this.#proc?.stop();
  }
}

/** What a test needs to talk to one lnd. */
export interface LndCredentials {
  /** host:port of lnd's gRPC. */
  host: string;
  /** lnd's TLS certificate, PEM. */
  tlsCert: Buffer;
  tlsCertPath: string;
  /** Folder of lnd's macaroons (admin, invoice, readonly, …). */
  macaroonDir: string;
  adminMacaroon: Buffer;
  invoiceMacaroon: Buffer;
  readonlyMacaroon: Buffer;
}

/** One lnd node. */
export class LndNode implements LndCredentials {
  readonly host: string;
  readonly p2pHost: string;
  readonly tlsCertPath: string;
  readonly macaroonDir: string;
  pubkey = '';
  #proc: Proc | undefined;
  #lnd: AuthenticatedLnd | undefined;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly binary: string,
    readonly btcd: Btcd,
    rpcPort: number,
    p2pPort: number,
  ) {
    this.host = `127.0.0.1:${rpcPort}`;
    this.p2pHost = `127.0.0.1:${p2pPort}`;
    this.tlsCertPath = join(dir, 'tls.cert');
    this.macaroonDir = join(dir, 'data', 'chain', 'bitcoin', 'regtest');
  }

  static create(name: string, binary: string, dir: string, btcd: Btcd): Promise<LndNode> {
    return onFreshPorts(async () => {
      // A fresh folder: a failed attempt may have left a half-made wallet.
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const node = new LndNode(name, dir, binary, btcd, await freePort(), await freePort());
      await node.start({ synced: false });
      return node;
    });
  }

  get tlsCert(): Buffer {
    return readFileSync(this.tlsCertPath);
  }
  get adminMacaroon(): Buffer {
    return readFileSync(join(this.macaroonDir, 'admin.macaroon'));
  }
  get invoiceMacaroon(): Buffer {
    return readFileSync(join(this.macaroonDir, 'invoice.macaroon'));
  }
  get readonlyMacaroon(): Buffer {
    return readFileSync(join(this.macaroonDir, 'readonly.macaroon'));
  }

  /** A client of the `lightning` package with the admin macaroon (for setting the network up). */
  get lnd(): AuthenticatedLnd {
    this.#lnd ??= lightning.authenticatedLndGrpc({
      cert: this.tlsCert.toString('base64'),
      macaroon: this.adminMacaroon.toString('base64'),
      socket: this.host,
    }).lnd;
    return this.#lnd;
  }

  /** Whether the process runs. */
  alive(): boolean {
    return this.#proc?.alive() ?? false;
  }

  /**
   * Starts lnd (again, on the same folder and ports) and waits until it answers,
   * and, with `synced`, until it has caught up with the chain.
   */
  async start({ synced = true }: { synced?: boolean } = {}): Promise<void> {
    const args = [
      `--lnddir=${this.dir}`,
      `--alias=${this.name}`,
      '--bitcoin.regtest',
      '--bitcoin.node=btcd',
      `--btcd.rpchost=${this.btcd.rpcHost}`,
      `--btcd.rpcuser=${this.btcd.user}`,
      `--btcd.rpcpass=${this.btcd.pass}`,
      `--btcd.rpccert=${this.btcd.certPath}`,
      `--rpclisten=${this.host}`,
      `--listen=${this.p2pHost}`,
      `--externalip=${this.p2pHost}`,
      '--norest',
      '--noseedbackup',
      '--nobootstrap',
      '--debuglevel=info',
      '--bitcoin.defaultchanconfs=1',
      '--trickledelay=50',
      '--gossip.sub-batch-delay=5ms',
      '--db.batch-commit-interval=10ms',
      '--logging.no-commit-hash',
      '--tlsextradomain=localhost',
    ];
    this.#proc = startProcess(`lnd ${this.name}`, this.binary, args, join(this.dir, 'lnd.out'));
    const proc = this.#proc;
    await waitFor(
      `lnd ${this.name} credentials`,
      async () => (existsSync(join(this.macaroonDir, 'admin.macaroon')) && existsSync(this.tlsCertPath) ? true : undefined),
      { proc },
    );
    this.#lnd = undefined;
    const info = await waitFor(`lnd ${this.name} to answer`, () => lightning.getWalletInfo({ lnd: this.lnd }), { proc });
    this.pubkey = info.public_key;
    if (synced) await this.waitSynced();
  }

  /** Waits until lnd has caught up with the chain btcd's tip. */
  async waitSynced(): Promise<void> {
    const height = await this.btcd.rpc<number>('getblockcount');
    await waitFor(
      `lnd ${this.name} at height ${height}`,
      async () => {
        const info = await lightning.getWalletInfo({ lnd: this.lnd });
        return info.is_synced_to_chain && info.current_block_height >= height ? true : undefined;
      },
      { proc: this.#proc },
    );
  }

  /** Graceful stop (SIGTERM). */
  async stop(): Promise<void> {
    await this.#proc?.stop();
  }

  /** Crash (SIGKILL). */
  async kill(): Promise<void> {
    await this.#proc?.kill();
  }

  tail(lines?: number): string {
    return this.#proc?.tail(lines) ?? '';
  }
}

/** The network: btcd, seller and buyer, a channel buyer → seller. */
export class RegtestNetwork {
  private constructor(
    readonly dir: string,
    readonly btcd: Btcd,
    readonly seller: LndNode,
    readonly buyer: LndNode,
  ) {}

  /**
   * Starts everything and opens a channel of `channelSats` from the buyer to the
   * seller (pushing `pushSats` to the seller, so that it can pay back).
   */
  static async start(binaries: NetworkBinaries, { channelSats = 5_000_000, pushSats = 1_000_000 } = {}): Promise<RegtestNetwork> {
    const dir = mkdtempSync(join(tmpdir(), 'aperture-regtest-'));
    let btcd: Btcd | undefined;
    let miner: Btcd | undefined;
    const nodes: LndNode[] = [];
    try {
      btcd = await Btcd.start('btcd', binaries.btcd, join(dir, 'btcd'), BURN_ADDRESS);
      // btcd's regtest activates segwit through BIP9 (144-block windows: started, locked in,
      // active from height 432); lnd's funding transactions need it. These blocks also give
      // the tip a recent timestamp: lnd counts a chain whose tip is old as not synced.
      await btcd.mine(SEGWIT_HEIGHT - 1);
      const seller = await LndNode.create('seller', binaries.lnd, join(dir, 'seller'), btcd);
      nodes.push(seller);
      const buyer = await LndNode.create('buyer', binaries.lnd, join(dir, 'buyer'), btcd);
      nodes.push(buyer);
      const { address } = await lightning.createChainAddress({ lnd: buyer.lnd, format: 'p2wpkh' });

      // One block reward to the buyer, through a miner btcd peered with the chain btcd.
      miner = await Btcd.start('miner', binaries.btcd, join(dir, 'miner'), address, btcd.p2pHost);
      const start = await btcd.rpc<number>('getblockcount');
      await waitFor('the miner to sync', async () => ((await miner?.rpc<number>('getblockcount')) === start ? true : undefined));
      await miner.mine(1);
      await waitFor("the chain btcd to take the miner's block", async () =>
        (await btcd?.rpc<number>('getblockcount')) === start + 1 ? true : undefined,
      );
      await miner.stop();
      miner = undefined;
      // Coinbase maturity.
      await btcd.mine(100);
      await waitFor("the buyer's funds", async () =>
        (await lightning.getChainBalance({ lnd: buyer.lnd })).chain_balance > 0 ? true : undefined,
      );
      await seller.waitSynced();

      await lightning.addPeer({ lnd: buyer.lnd, public_key: seller.pubkey, socket: seller.p2pHost });
      await lightning.openChannel({
        lnd: buyer.lnd,
        partner_public_key: seller.pubkey,
        local_tokens: channelSats,
        give_tokens: pushSats,
        chain_fee_tokens_per_vbyte: 2,
      });
      await waitFor('the funding transaction in the mempool', async () =>
        ((await btcd?.rpc<string[]>('getrawmempool'))?.length ?? 0) > 0 ? true : undefined,
      );
      // Six confirmations: the channel is announced, as on a live network.
      await btcd.mine(6);
      const network = new RegtestNetwork(dir, btcd, seller, buyer);
      await network.waitChannelActive();
      return network;
    } catch (error) {
      for (const node of nodes) await node.stop();
      await miner?.stop();
      await btcd?.stop();
      const logs = nodes.map((n) => `--- lnd ${n.name}:\n${n.tail(20)}`).join('\n');
      // APERTURE_REGTEST_KEEP=1 keeps the folder (logs, data) of a failed start for a look.
      if (process.env['APERTURE_REGTEST_KEEP'] === undefined) rmSync(dir, { recursive: true, force: true });
      throw new Error(`the regtest network did not start: ${error instanceof Error ? error.message : String(error)}\n${logs}`, {
        cause: error,
      });
    }
  }

  /** Waits until the buyer and the seller both see their channel active. */
  async waitChannelActive(): Promise<void> {
    for (const node of [this.buyer, this.seller]) {
      await waitFor(
        `an active channel on ${node.name}`,
        async () => ((await lightning.getChannels({ lnd: node.lnd, is_active: true })).channels.length > 0 ? true : undefined),
        {
          limitMs: 60_000,
        },
      );
    }
  }

  /** Mines blocks on the chain btcd and waits for the running nodes to see them. */
  async mine(blocks: number): Promise<void> {
    await this.btcd.mine(blocks);
    for (const node of [this.seller, this.buyer]) if (node.alive()) await node.waitSynced();
  }

  /** Stops every process and removes the folder. */
  async stop(): Promise<void> {
    await Promise.all([this.seller.stop(), this.buyer.stop()]);
    await this.btcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
