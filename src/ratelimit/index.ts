/**
 * Rate limiting and freebies (`aperture-ts/ratelimit`): the per-service
 * `RateLimiter` over token buckets, memory and Redis stores, freebie counters,
 * the decisions they answer with, and the client-address helpers (trusted
 * proxies, CIDR sets). What is listed here is public; the rest of
 * `src/ratelimit` is internal.
 * @packageDocumentation
 */

// The limiter, its rules and its answers.
export { RateLimiter, tokenRateLimitKey, ipRateLimitKey } from './rate-limiter.js';
export type { RateLimiterOptions, RateLimitResult, RateLimiterStats, StoreErrorPolicy } from './rate-limiter.js';
export { validateRateLimitRules } from './rate-limit-rules.js';
export type { RateLimitRuleConfig, CompiledRateLimitRule } from './rate-limit-rules.js';
export { rateLimitedDecision } from './rate-limited-decision.js';
export { globalLimitDecision } from './global-limit-decision.js';
export { TokenBucket } from './token-bucket.js';
export type { TokenBucketOptions, TakeResult } from './token-bucket.js';

// Where buckets are kept: the interface, memory and Redis.
export type { RateLimitStore } from './rate-limit-store.js';
export { MemoryRateLimitStore } from './memory-rate-limit-store.js';
export type { MemoryRateLimitStoreOptions } from './memory-rate-limit-store.js';
export { RedisRateLimitStore } from './redis-rate-limit-store.js';
export type { RedisRateLimitStoreOptions } from './redis-rate-limit-store.js';
export type { RedisConnectionOptions, RedisClient } from './redis-connection.js';

// Freebies.
export type { FreebieCounter, FreebieCounterOptions, FreebieStats } from './freebie-counter.js';
export { MemoryFreebieCounter } from './memory-freebie-counter.js';
export type { MemoryFreebieCounterOptions } from './memory-freebie-counter.js';
export { RedisFreebieCounter } from './redis-freebie-counter.js';
export type { RedisFreebieCounterOptions } from './redis-freebie-counter.js';

// The client's address.
export { clientIp } from './client-ip.js';
export { IpSet } from './ip-set.js';
export type { ParsedIp } from './parse-ip.js';
