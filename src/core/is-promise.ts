/**
 * Tells a promise from a plain value, so that hot paths with synchronous
 * stores and hooks answer without an extra microtask.
 */
import type { MaybePromise } from './types.js';

/**
 * Whether `value` is a thenable (a promise from any realm or library).
 * @param value - a value or a promise of it
 * @returns `true` when it has a `then` method
 */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
