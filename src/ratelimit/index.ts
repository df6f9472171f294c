/**
 * Rate limiting and freebies (`aperture-ts/ratelimit`): token buckets, the
 * per-service rule set, memory and Redis stores, freebie counters, and the
 * client-address helpers (trusted proxies, masks, CIDR sets).
 * @packageDocumentation
 */
export { TokenBucket, ALLOWED } from './token-bucket.js';
export type { TokenBucketOptions, TakeResult } from './token-bucket.js';
export { compileRateLimitRules, validateRateLimitRules, parseDurationMs } from './rate-limit-rules.js';
export type { RateLimitRuleConfig, CompiledRateLimitRule } from './rate-limit-rules.js';
export type { RateLimitStore } from './rate-limit-store.js';
export { MemoryRateLimitStore } from './memory-rate-limit-store.js';
export type { MemoryRateLimitStoreOptions } from './memory-rate-limit-store.js';
export { RedisRateLimitStore } from './redis-rate-limit-store.js';
export type { RedisRateLimitStoreOptions } from './redis-rate-limit-store.js';
export type { RedisConnectionOptions, RedisClient } from './redis-connection.js';
export { RateLimiter, tokenRateLimitKey, ipRateLimitKey, retryAfterSeconds } from './rate-limiter.js';
export type { RateLimiterOptions, RateLimitResult, RateLimiterStats, StoreErrorPolicy } from './rate-limiter.js';
export { rateLimitedDecision } from './rate-limited-decision.js';
export { globalLimitDecision } from './global-limit-decision.js';
export type { FreebieCounter, FreebieCounterOptions, FreebieStats } from './freebie-counter.js';
export { MemoryFreebieCounter } from './memory-freebie-counter.js';
export type { MemoryFreebieCounterOptions } from './memory-freebie-counter.js';
export { RedisFreebieCounter } from './redis-freebie-counter.js';
export type { RedisFreebieCounterOptions } from './redis-freebie-counter.js';
export { clientIp } from './client-ip.js';
export { maskIp } from './mask-ip.js';
export { IpSet, parseCidr, validateIpList } from './ip-set.js';
export type { ParsedCidr } from './ip-set.js';
export { parseIp, formatIp } from './parse-ip.js';
export type { ParsedIp } from './parse-ip.js';
