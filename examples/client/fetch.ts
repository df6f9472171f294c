// A client that pays L402 challenges by itself. Start a server first (`npm start`),
// then: npx tsx examples/client/fetch.ts [url]
import { wrapFetch } from 'aperture-ts/client';
import { DevHttpPayer } from 'aperture-ts/lightning/dev';

const url = new URL(process.argv[2] ?? 'http://127.0.0.1:8081/api/quote');
const payer = new DevHttpPayer({ url: new URL('/api/dev/pay', url) }); // the dev backend's wallet
const fetch402 = wrapFetch(fetch, { payer, maxPriceSats: 100 });

const first = await fetch402(url); // 402 → checks the invoice → pays → retries
console.log(first.status, await first.text());
const second = await fetch402(url); // reuses the token: no second payment
console.log(second.status, await second.text());
