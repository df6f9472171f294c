/**
 * The `aperture` program as a library: {@link startAperture} wires a validated
 * configuration into a running proxy. See docs/operations.md.
 */
export { startAperture } from './start-aperture.js';
export type { StartApertureOptions, RunningAperture, BucketSetting } from './start-aperture.js';
export type { AppService } from './app-service.js';
export type { ServicesChange } from './running-services.js';
