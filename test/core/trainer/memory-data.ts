/** An in-memory dataset of smooth random-ish pictures for trainer tests (no files). */
import type { Dataset, Sample } from '@tessera/core';

export function memoryDataset(length: number, resolution: number, classes = 10): Dataset {
  const size = 3 * resolution * resolution;
  const images = Array.from({ length }, (_, n) => Float32Array.from({ length: size }, (_, i) => Math.sin(0.37 * i + 1.3 * n) * 0.8));
  return {
    length,
    classes,
    source: `memory (${length} images)`,
    resolution,
    get: async (index: number): Promise<Sample> => ({ image: images[index], label: index % classes }),
  };
}
