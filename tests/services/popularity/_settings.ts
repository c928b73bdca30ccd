/** The built-in `[popularity]` settings, optionally changed. */

import { resolveConfig } from "../../../src/core/config.ts";
import {
  type PopularitySettings,
  popularitySettingsOf,
} from "../../../src/services/popularity/mod.ts";

/**
 * The default popularity settings with some fields changed.
 *
 * @param changes Fields to change.
 * @returns The settings.
 */
export function popularitySettings(changes: Partial<PopularitySettings> = {}): PopularitySettings {
  return { ...popularitySettingsOf(resolveConfig().config.popularity), ...changes };
}
