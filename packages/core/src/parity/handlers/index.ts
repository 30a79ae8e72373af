/** The parity handlers core owns: kinds that need only core. */
import type { ParityHandler } from '../types';
import { areaDownHandler, bicubicUpHandler } from './interp';
import { centerCropHandler } from './data';

export const coreParityHandlers: ParityHandler[] = [areaDownHandler, bicubicUpHandler, centerCropHandler];
