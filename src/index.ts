// Public API of looptrace. Anything exported here is part of the package's contract.
export * from './recorder/index.js';
export * from './format/index.js';
export { loadBinding } from './binding.js';
export type { NativeBinding } from './binding.js';
export * from './analyze/index.js';
export * from './operations/index.js';
