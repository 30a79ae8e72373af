export * from './capabilities';
export * from './token-space';
export * from './tokenizer';
export * from './head';
export * from './backbone';
export * from './direction';
export * from './generator';
export * from './tokens';
