// Public API of looptrace. Anything exported here is part of the package's contract.
export { loadBinding } from './binding.js';
export type { NativeBinding } from './binding.js';
export * from './format/index.js';
