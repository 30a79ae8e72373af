/**
 * Options of direction `raster`. The order is fixed (row-major over the finest token map)
 * and every sampling setting comes from the sampler, so there is nothing to configure
 * yet; the strict empty schema still refuses unknown keys.
 */
import { z } from 'zod';

export const rasterDirectionOptions = z.object({}).strict();

export type RasterDirectionOptions = z.output<typeof rasterDirectionOptions>;
