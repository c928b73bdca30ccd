/** The built-in node settings, as `deno task sim` uses them without `RHIZOME_*` variables. */

import { resolveConfig } from "../../src/core/config.ts";
import type { DhtSettings } from "../../src/dht/types.ts";

/**
 * The default settings of a full node, optionally with some `[dht]` fields changed.
 *
 * @param dht Fields to change.
 * @returns The settings.
 */
export function defaultSettings(dht: Partial<DhtSettings["dht"]> = {}): DhtSettings {
  const { config } = resolveConfig();
  return { dht: { ...config.dht, ...dht }, profile: config.profiles.full, store: config.store };
}
