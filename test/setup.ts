/** Mocha setup: decorator metadata for tsyringe, and quiet tfjs. */
import 'reflect-metadata';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
