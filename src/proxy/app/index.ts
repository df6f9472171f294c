/**
 * The `aperture` program as a library: {@link startAperture} wires a validated
 * configuration into a running proxy. See docs/operations.md.
 */
export { startAperture, DEFAULT_GC_INTERVAL_MS, DEFAULT_GC_GRACE_MS, DEFAULT_CHALLENGE_RATE_LIMIT } from './start-aperture.js';
export type { StartApertureOptions, RunningAperture, BucketSetting } from './start-aperture.js';
export { createAuthorize, pricerRequestText } from './create-authorize.js';
export type { CreateAuthorizeOptions, PipelineOutcome } from './create-authorize.js';
export { ApertureHandler, DEV_PAY_PATH } from './aperture-handler.js';
export type { ApertureHandlerOptions, RequestNote } from './aperture-handler.js';
export type { AppService } from './app-service.js';
