/** Training: options and method presets, AdamW + EMA, schedules, the trainer, checkpoints and runs. */
export * from './options';
export * from './schedule';
export * from './adamw';
export * from './trainer';
export * from './checkpoint';
export * from './run';
export * from './samples';
