// Values the global setup hands to the tests (`inject(...)`).
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the loopback upstream (bench/lib/upstream.ts), e.g. http://127.0.0.1:41234 */
    upstream: string;
    /** Another loopback upstream like it, on another port: another origin. */
    otherUpstream: string;
    /** Path of the worker bundle the e2e project's global setup built once (test/setup/e2e-bundle.ts). */
    e2eBundle: string;
  }
}
