/**
 * Typed injection tokens of a generator's container. Each is a symbol with a same-named
 * interface; plugins register their implementation under the token of their kind.
 */
import type { InjectionToken } from 'tsyringe';
import type { Engine } from '../engine/engine';
import type { DrawSource } from '../rng/draws';
import type { Backbone } from './backbone';
import type { Direction } from './direction';
import type { Head } from './head';
import type { Tokenizer } from './tokenizer';

export const ENGINE: InjectionToken<Engine> = Symbol('Engine');
export const DRAWS: InjectionToken<DrawSource> = Symbol('DrawSource');
export const TOKENIZER: InjectionToken<Tokenizer> = Symbol('Tokenizer');
export const DIRECTION: InjectionToken<Direction> = Symbol('Direction');
export const HEAD: InjectionToken<Head> = Symbol('Head');
export const BACKBONE: InjectionToken<Backbone> = Symbol('Backbone');
