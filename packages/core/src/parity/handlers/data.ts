/** Parity handler for the official preprocessing: `mar.data.center_crop` (spec/mar.md §8.1). */
import type { ParityHandler } from '../types';
import { centerCropArr, toNormalizedChw } from '../../data/center-crop';
import { toInt32 } from '../../tensor/host';

export const centerCropHandler: ParityHandler = {
  kind: 'mar.data.center_crop',
  async run(c) {
    const input = c.input('image_hwc_u8');
    const [height, width, channels] = input.shape;
    const data = Uint8Array.from(toInt32(input));
    const crop = centerCropArr({ data, width, height, channels }, c.config<number>('image_size'));
    return new Map([
      ['crop_hwc_u8', { dtype: 'uint8' as const, shape: [crop.height, crop.width, crop.channels], data: crop.data }],
      ['image_chw', { dtype: 'float32' as const, shape: [crop.channels, crop.height, crop.width], data: toNormalizedChw(crop) }],
    ]);
  },
};
