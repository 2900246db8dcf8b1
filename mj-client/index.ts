export * from './buttons';
export * from './client';
export * from './errors';
export * from './routing';
export * from './schemas';
export * from './task';
